// Byte sizes on the command line and in reports. GB = 10^9, GiB = 2^30; a Mac
// sold as "512 GB" has 512 GiB, so memory defaults are written in GiB.
import { MlxkError } from '../io/errors.js';

const UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

export function parseBytes(text: string, flag: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = (m?.[2] ?? '').toLowerCase();
  if (!m || (unit !== '' && UNITS[unit] === undefined)) throw new MlxkError(`${flag}: "${text}" is not a size (examples: 512GiB, 480GB, 5GiB)`);
  return Number(m[1]) * (unit === '' ? 2 ** 30 : UNITS[unit]!);
}

export function parseCount(text: string, flag: string): number {
  const m = /^\s*([0-9]+)\s*([kKmM]?)\s*$/.exec(text);
  if (!m) throw new MlxkError(`${flag}: "${text}" is not a count (examples: 131072, 128k)`);
  return Number(m[1]) * (m[2]?.toLowerCase() === 'k' ? 1024 : m[2]?.toLowerCase() === 'm' ? 1024 * 1024 : 1);
}

export function gb(bytes: number, digits = 1): string {
  return `${(bytes / 1e9).toFixed(digits)} GB`;
}

export function gib(bytes: number, digits = 1): string {
  return `${(bytes / 2 ** 30).toFixed(digits)} GiB`;
}

/** "12.3 GB (11.5 GiB)" */
export function bothUnits(bytes: number, digits = 1): string {
  return `${gb(bytes, digits)} (${gib(bytes, digits)})`;
}

export function humanBytes(bytes: number): string {
  if (bytes >= 1e12) return `${(bytes / 1e12).toFixed(2)} TB`;
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} B`;
}

export function humanCount(n: number): string {
  if (n >= 1e12) return `${(n / 1e12).toFixed(3)} T`;
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} K`;
  return String(n);
}
