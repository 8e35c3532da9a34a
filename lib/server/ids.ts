// Response ids in the shapes the APIs use: "chatcmpl-…", "cmpl-…", "msg_…".
import { randomId } from '../protocol/ids.js';

/** What every response of one request shares. */
export interface ResponseMeta {
  id: string;
  model: string;
  /** Unix seconds. */
  created: number;
}

export function responseMeta(prefix: string, model: string, now = Date.now()): ResponseMeta {
  return { id: randomId(prefix), model, created: Math.floor(now / 1000) };
}
