// The output directory of `mlxk quantize` between runs: which conversion it holds (a hash of the
// plan and inputs), which shards are complete, whether it is finished with the same settings, and
// the state file that marks a conversion under way so a re-run resumes instead of starting over.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { Checkpoint } from '../io/checkpoint.js';
import { MlxkError } from '../io/errors.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { type ShardPlan, writeFileAtomic } from '../io/safetensorsWriter.js';
import type { ConvertReport } from './convert.js';
import { type conversionSettings, DONE_FILE, readDone, settingsDiff } from './finished.js';
import { clearConversionFiles, STATE_FILE } from './outputFiles.js';
import type { QuantPlan } from './plan.js';

export function planHash(src: string, ckpt: Checkpoint, plan: QuantPlan, shards: ShardPlan[], extra: string): string {
  const h = createHash('sha256');
  h.update(extra);
  h.update(JSON.stringify({ src, files: ckpt.shardFiles.map((f) => [f, ckpt.tensors.size]) }));
  for (const t of plan.tensors) h.update(`${t.name}|${t.dtype}|${t.shape}|${t.quant ? `${t.quant.bits}/${t.quant.groupSize}/${t.quant.method}` : ''}\n`);
  for (const s of shards) h.update(`${s.file}:${s.tensors.length}\n`);
  return h.digest('hex');
}

export function shardComplete(path: string, shard: ShardPlan): boolean {
  if (!existsSync(path)) return false;
  let f: SafetensorsFile;
  try {
    f = SafetensorsFile.open(path);
  } catch {
    return false;
  }
  try {
    if (f.tensors.size !== shard.tensors.length) return false;
    return shard.tensors.every((t) => {
      const got = f.tensors.get(t.name);
      return got !== undefined && got.dtype === t.dtype && got.shape.join(',') === t.shape.join(',');
    });
  } finally {
    f.close();
  }
}

/**
 * The report of the finished conversion already in `dst` when it was made with these settings and
 * its files are all there; null when there is none or a file is gone (the same settings then resume,
 * rewriting only what is missing). A finished conversion with other settings is refused by name.
 */
export function finishedReport(dst: string, hash: string, settings: ReturnType<typeof conversionSettings>, shards: ShardPlan[]): ConvertReport | null {
  const rec = existsSync(dst) ? readDone<ConvertReport>(dst) : null;
  if (!rec) return null;
  if (rec.planHash !== hash) {
    const diff = settingsDiff(rec.settings, settings);
    throw new MlxkError(`${dst}: holds a finished conversion with different settings: ${diff.length ? diff.slice(0, 3).join('; ') : 'the same flags but another tensor plan (written by another mlxk version?)'}; pass --force to overwrite it, or choose a new directory`);
  }
  const complete = existsSync(join(dst, 'config.json')) && !existsSync(join(dst, STATE_FILE)) && shards.every((s) => shardComplete(join(dst, s.file), s));
  return complete ? rec.report : null;
}

export function prepareDestination(src: string, dst: string, force: boolean, hash: string): void {
  mkdirSync(dst, { recursive: true });
  const statePath = join(dst, STATE_FILE);
  const state = existsSync(statePath) ? (JSON.parse(readFileSync(statePath, 'utf8')) as { planHash?: string }) : null;
  const nonEmpty = readdirSync(dst).length > 0;
  const sameFinished = readDone(dst)?.planHash === hash;
  if (force) clearConversionFiles(dst);
  else if (state && state.planHash !== hash) throw new MlxkError(`${dst}: holds an unfinished conversion with different settings`, 'use --force to discard it and start over');
  else if (!state && nonEmpty && !sameFinished) throw new MlxkError(`${dst}: is not empty`, 'choose a new directory, or pass --force to overwrite the model files in it');
  // Until the rewrite finishes, the directory must not claim to be complete.
  rmSync(join(dst, DONE_FILE), { force: true });
  writeFileAtomic(statePath, JSON.stringify({ tool: 'mlxk', planHash: hash, source: src, started: new Date().toISOString() }, null, 2));
}

export function checkFreeSpace(dst: string, needed: number): void {
  const fs = statfsSync(dst);
  const free = fs.bavail * fs.bsize;
  const margin = 64 * 2 ** 20;
  if (free < needed + margin) {
    throw new MlxkError(`${dst}: needs ${(needed / 1e9).toFixed(2)} GB free for the remaining shards, the disk has ${(free / 1e9).toFixed(2)} GB`, 'free space or choose another destination; finished shards are kept for a re-run');
  }
}
