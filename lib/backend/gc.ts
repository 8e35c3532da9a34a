// V8's own gc(), for backends whose memory is let go only when the collector reaches the
// handles that own it: mlx arrays (reclaim.ts) and native weights freed mid-pass (dispose).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export type Gc = (options?: { type?: 'minor' | 'major' }) => void;

let gc: Gc | null | undefined;

/** The global gc() under --expose-gc, else one enabled at runtime for a fresh context; null if neither works. */
export function collector(): Gc | null {
  if (gc !== undefined) return gc;
  const global = (globalThis as { gc?: Gc }).gc;
  if (global) return (gc = global);
  try {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as Gc;
  } catch {
    gc = null;
  }
  return gc;
}
