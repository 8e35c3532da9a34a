// `--calib FILE` for every verb that runs a model over calibration text (imatrix,
// quantize --method gptq|learned, sensitivity): the file(s) named, their sha256 for the
// model card, the token ids the model's tokenizer makes of them, and windows of those
// ids spread evenly over the whole set.
//   - `default` names the shipped set (calib/calib.txt + calib/chat.jsonl, calib/README.md);
//   - a file ending in .jsonl holds chat transcripts, one {"messages": [...], "tools"?: [...]}
//     per line, rendered through the model's own chat template (so a model calibrates on its
//     own turn markers, tool-call syntax and reasoning tags);
//   - any other file is plain UTF-8 text.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JsonObject } from '../io/checkpoint.js';
import { MlxkError } from '../io/errors.js';
import type { ChatMessage, Tokenizer } from '../tokenizer/types.js';

export const SHIPPED_CALIB_DIR = fileURLToPath(new URL('../../../calib/', import.meta.url));
/** The name `--calib` takes for the shipped set. */
export const DEFAULT_CALIB = 'default';
const SHIPPED_FILES = ['calib.txt', 'chat.jsonl'];
/** Largest calibration file read (tokenizing is linear in it; a few MB is plenty). */
const MAX_FILE_BYTES = 256 << 20;
/** Tokens per routed expert, on average, below which a calibration set does not cover a MoE model. */
export const TOKENS_PER_EXPERT = 32;

export interface CalibrationFile {
  path: string;
  sha256: string;
  bytes: number;
  chat: boolean;
}

export interface CalibrationSet {
  /** What `--calib` said: a path, or "default". */
  name: string;
  files: CalibrationFile[];
  /** One identity for all files (a file's own sha256 when there is one). */
  sha256: string;
}

/** The files `--calib` names; "default" (or no flag where a verb allows it) is the shipped set. */
export function openCalibration(flag: string | undefined, flagName = '--calib'): CalibrationSet {
  const name = flag ?? DEFAULT_CALIB;
  const paths = name === DEFAULT_CALIB ? SHIPPED_FILES.map((f) => SHIPPED_CALIB_DIR + f) : [name];
  const files = paths.map((path) => {
    if (!existsSync(path) || !statSync(path).isFile()) {
      throw new MlxkError(`${flagName} ${name}: ${name === DEFAULT_CALIB ? `the shipped calibration set is missing (${path})` : 'no such file'}`, `pass a text file or chat JSONL of calibration text (never the text you evaluate on), or ${flagName} ${DEFAULT_CALIB} for the shipped set`);
    }
    const size = statSync(path).size;
    if (size > MAX_FILE_BYTES) throw new MlxkError(`${flagName} ${path}: ${size} bytes, more than the ${MAX_FILE_BYTES >> 20} MB read`, 'a few hundred KB to a few MB of varied text is enough; cut the file');
    const buf = readFileSync(path);
    return { path, sha256: createHash('sha256').update(buf).digest('hex'), bytes: size, chat: path.endsWith('.jsonl') };
  });
  const sha256 = files.length === 1 ? files[0]!.sha256 : createHash('sha256').update(files.map((f) => f.sha256).join('\n')).digest('hex');
  return { name, files, sha256 };
}

/** One line for the model card / reports: what was read and its sha256. */
export function describeCalibration(set: CalibrationSet): string {
  const what = set.name === DEFAULT_CALIB ? 'the shipped set (calib/)' : basename(set.name);
  return `${what}: ${set.files.map((f) => `${basename(f.path)} sha256 ${f.sha256}`).join(', ')}`;
}

function chatDocuments(f: CalibrationFile, tokenizer: Tokenizer): number[][] {
  if (!tokenizer.hasChatTemplate) throw new MlxkError(`${f.path}: chat transcripts are rendered through the model's chat template, and ${tokenizer.dir} has none`, 'pass plain text instead of JSONL');
  const docs: number[][] = [];
  readFileSync(f.path, 'utf8').split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let o: { messages?: unknown; tools?: unknown };
    try {
      o = JSON.parse(line) as typeof o;
    } catch {
      throw new MlxkError(`${f.path}:${i + 1}: not JSON`, 'each line of a .jsonl calibration file is {"messages": [{"role": ..., "content": ...}, ...]}');
    }
    if (!o || !Array.isArray(o.messages) || o.messages.length === 0 || !o.messages.every((m) => m && typeof m === 'object' && typeof (m as ChatMessage).role === 'string')) {
      throw new MlxkError(`${f.path}:${i + 1}: expected {"messages": [{"role": ..., "content": ...}, ...]}`, 'one chat per line, OpenAI-style messages; "tools" optional');
    }
    if (o.tools !== undefined && !Array.isArray(o.tools)) throw new MlxkError(`${f.path}:${i + 1}: "tools" must be an array of tool definitions`);
    docs.push(tokenizer.applyChatTemplate(o.messages as ChatMessage[], { addGenerationPrompt: false, ...(o.tools ? { tools: o.tools as unknown[] } : {}) }).ids);
  });
  return docs;
}

/** Every file's tokens back to back: plain text as one document, each chat as one. */
export function calibrationIds(set: CalibrationSet, tokenizer: Tokenizer): number[] {
  const ids: number[] = [];
  for (const f of set.files) {
    const docs = f.chat ? chatDocuments(f, tokenizer) : [tokenizer.encode(readFileSync(f.path, 'utf8'))];
    for (const d of docs) for (const id of d) ids.push(id);
  }
  return ids;
}

/** The tokens a model needs to be covered: one window, and TOKENS_PER_EXPERT per routed expert on average. */
export function requiredCalibrationTokens(config: JsonObject, seqLen: number): { tokens: number; why: string } {
  const c = (config.text_config as JsonObject | undefined) ?? config;
  const experts = Number(c.n_routed_experts ?? c.num_experts ?? 0);
  const k = Number(c.num_experts_per_tok ?? 1);
  const perExperts = experts > 0 && k > 0 ? Math.ceil((TOKENS_PER_EXPERT * experts) / k) : 0;
  const tokens = Math.ceil(Math.max(seqLen, perExperts) / seqLen) * seqLen;
  const why = perExperts > seqLen ? `${TOKENS_PER_EXPERT} per routed expert on average: ${experts} experts, ${k} per token, in windows of ${seqLen}` : `one window of ${seqLen}`;
  return { tokens, why };
}

export interface WindowOptions {
  seqLen: number;
  /** Most tokens used; windows are then spread evenly over the whole set. */
  maxTokens: number;
  flagName?: string;
}

/**
 * Windows of seqLen tokens, at most maxTokens in all, spread evenly over the set (so a
 * cap keeps the mix of code, chat and prose instead of its first part); refused with one
 * line when they cannot cover the model.
 */
export function calibrationWindows(ids: readonly number[], set: CalibrationSet, config: JsonObject, opts: WindowOptions): number[][] {
  const flag = opts.flagName ?? '--calib';
  const need = requiredCalibrationTokens(config, opts.seqLen);
  if (opts.maxTokens < need.tokens) throw new MlxkError(`--calib-tokens ${opts.maxTokens}: this model needs at least ${need.tokens} calibration tokens (${need.why})`, `raise --calib-tokens to ${need.tokens} or more`);
  const available = Math.floor(ids.length / opts.seqLen);
  if (available * opts.seqLen < need.tokens) {
    throw new MlxkError(`${flag} ${set.name}: ${ids.length} tokens, fewer than the ${need.tokens} this model needs (${need.why})`, `use a longer calibration text, ${flag} ${DEFAULT_CALIB} (the shipped set), or a smaller --calib-seq`);
  }
  const n = Math.min(available, Math.floor(opts.maxTokens / opts.seqLen));
  return Array.from({ length: n }, (_, j) => {
    const start = Math.floor((j * available) / n) * opts.seqLen;
    return ids.slice(start, start + opts.seqLen);
  });
}
