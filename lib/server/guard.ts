// What keeps a web page in the user's browser from using the server: the Host check against DNS
// rebinding (a page that rebinds its own name to 127.0.0.1 sends its own name as Host), the
// Origin check against cross-origin requests (a browser always names the page's origin on them),
// CORS only for origins named with --cors-origin, and JSON-only POST bodies, so no "simple"
// cross-origin request (text/plain, form data, no preflight) ever reaches a route.
import type { NextFunction, Request, Response } from 'express';
import { ApiError } from './errors.js';
import { sendError } from './responder.js';
import type { ErrorStyle } from './responder.js';

export interface GuardOptions {
  /** Host names (any port) or name:port pairs accepted besides loopback; "*" accepts any Host. */
  allowedHosts?: readonly string[];
  /** Origins (scheme://host[:port]) whose pages may call the server; "*" allows any. */
  corsOrigins?: readonly string[];
  /** The address the server listens on: a literal address is accepted as Host too. */
  listenHost?: string;
}

const ALLOWED_METHODS = 'GET, POST, OPTIONS';
const EXPOSED_HEADERS = 'x-request-id, request-id';

/** Host header → lower-case name (IPv6 without brackets) and port (undefined when absent). */
export function parseHost(header: string): { name: string; port: number | undefined } | undefined {
  // RFC 3986 host: an IP-literal in brackets, or a reg-name (IPv4 included).
  const m = /^(?:\[([0-9a-f:.]+)\]|([\w.~%!$&'()*+,;=-]+))(?::(\d{1,5}))?$/i.exec(header.trim());
  if (!m) return undefined;
  const name = (m[1] ?? m[2]!).toLowerCase().replace(/\.$/, '');
  return { name, port: m[3] === undefined ? undefined : Number(m[3]) };
}

/** Names that always mean this machine: localhost (and *.localhost, RFC 6761), 127.0.0.0/8, ::1. */
export function isLoopbackName(name: string): boolean {
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (/^127(?:\.\d{1,3}){3}$/.test(name)) return true;
  return name === '::1' || name === '0:0:0:0:0:0:0:1' || name === '::ffff:127.0.0.1';
}

function hostAllowed(header: string | undefined, port: number, o: GuardOptions): boolean {
  const allowed = o.allowedHosts ?? [];
  if (allowed.includes('*')) return true;
  if (header === undefined) return false;
  const host = parseHost(header);
  if (host === undefined) return false;
  const effectivePort = host.port ?? 80;
  if (isLoopbackName(host.name) || host.name === normalizeListenHost(o.listenHost)) return effectivePort === port;
  return allowed.some((entry) => {
    const want = parseHost(entry);
    return want !== undefined && want.name === host.name && (want.port === undefined || want.port === effectivePort);
  });
}

/** A literal listen address other than a wildcard ("0.0.0.0", "::"). */
function normalizeListenHost(h: string | undefined): string | undefined {
  if (h === undefined || h === '0.0.0.0' || h === '::') return undefined;
  return parseHost(h.includes(':') && !h.startsWith('[') ? `[${h}]` : h)?.name;
}

function originAllowed(origin: string, o: GuardOptions): boolean {
  const list = o.corsOrigins ?? [];
  return list.includes('*') || list.some((allowed) => allowed.replace(/\/$/, '').toLowerCase() === origin.toLowerCase());
}

/**
 * Host and Origin checks and CORS, before any route (and before the API key, so a refused page
 * learns nothing). `style` picks the API's error shape for the request.
 */
export function browserGuard(o: GuardOptions, style: (req: Request) => ErrorStyle) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const host = req.get('host');
    const port = req.socket.localPort ?? 0;
    if (!hostAllowed(host, port, o)) {
      const message = `Host ${JSON.stringify(host ?? '')} is not allowed: this server answers requests addressed to localhost, 127.0.0.1 or [::1] on port ${port} (a page that rebinds its own name to this machine is refused); start it with --allowed-hosts NAME to accept another name`;
      sendError(res, style(req), new ApiError('forbidden', message));
      return;
    }
    const origin = req.get('origin');
    if (origin === undefined) return next();
    if (!originAllowed(origin, o)) {
      const message = `requests from web pages are refused (Origin ${JSON.stringify(origin)}); start the server with --cors-origin ${origin === 'null' ? 'ORIGIN' : origin} to allow that page`;
      sendError(res, style(req), new ApiError('forbidden', message));
      return;
    }
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Vary', 'Origin');
    res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS);
    if (req.method === 'OPTIONS' && req.get('access-control-request-method') !== undefined) {
      res.setHeader('Access-Control-Allow-Methods', ALLOWED_METHODS);
      const asked = req.get('access-control-request-headers');
      // Header names only (RFC 9110 tokens): the page's own list is echoed for its allowed origin.
      if (asked !== undefined && /^[\w!#$%&'*+.^`|~-]+(?:\s*,\s*[\w!#$%&'*+.^`|~-]+)*$/.test(asked.trim())) res.setHeader('Access-Control-Allow-Headers', asked.trim());
      res.setHeader('Access-Control-Max-Age', '600');
      res.status(204).end();
      return;
    }
    next();
  };
}

/** POST bodies must be JSON: application/json or application/*+json (a charset parameter is fine). */
export function isJsonContentType(header: string | undefined): boolean {
  if (header === undefined) return false;
  const type = header.split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || /^application\/[\w.+-]+\+json$/.test(type);
}

export function requireJson(style: (req: Request) => ErrorStyle) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (req.method !== 'POST' || isJsonContentType(req.get('content-type'))) return next();
    const got = req.get('content-type');
    const message = `the request body must be JSON sent as "Content-Type: application/json", got ${got === undefined ? 'no Content-Type' : JSON.stringify(got)}`;
    sendError(res, style(req), new ApiError('unsupported_media_type', message));
  };
}
