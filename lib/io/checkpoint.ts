// A checkpoint directory: config.json plus safetensors shards, found through
// model.safetensors.index.json when present (HF and mlx-lm both write one),
// otherwise by globbing *.safetensors. Also resolves Hugging Face cache repo
// ids offline (hub layout: models--ORG--NAME/{refs/main, snapshots/REV}).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { CheckpointError, MlxkError, oneLine } from './errors.js';
import { SafetensorsFile, type TensorInfo } from './safetensors.js';

export type JsonObject = Record<string, unknown>;

export function readJson(path: string): JsonObject {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CheckpointError(path, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(path, `is not valid JSON (${oneLine((e as Error).message)})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new CheckpointError(path, 'must contain a JSON object');
  return value as JsonObject;
}

export function hfCacheRoots(): string[] {
  const roots: string[] = [];
  if (process.env.HF_HUB_CACHE) roots.push(process.env.HF_HUB_CACHE);
  if (process.env.HF_HOME) roots.push(join(process.env.HF_HOME, 'hub'));
  roots.push(join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'huggingface', 'hub'));
  return [...new Set(roots)];
}

/**
 * A directory path, or "ORG/NAME[@REV]" looked up in the local Hugging Face cache.
 * Never downloads: a repo that is not cached is an error that says how to fetch it.
 */
export function resolveModelPath(arg: string): string {
  if (existsSync(arg)) {
    if (!statSync(arg).isDirectory()) throw new MlxkError(`${arg}: expected a model directory, found a file`);
    return resolve(arg);
  }
  // "./x", "../x" and absolute paths are paths, never repo ids.
  const m = /^\.{0,2}\//.test(arg) ? null : /^([\w.-]+)\/([\w.-]+)(?:@([\w.-]+))?$/.exec(arg);
  if (!m) throw new MlxkError(`${arg}: no such directory (and not an ORG/NAME Hugging Face repo id)`);
  const [, org, name, rev] = m;
  const looked: string[] = [];
  for (const root of hfCacheRoots()) {
    const repo = join(root, `models--${org}--${name}`);
    looked.push(repo);
    if (!existsSync(repo)) continue;
    let snapshot = rev;
    if (!snapshot || existsSync(join(repo, 'refs', snapshot))) {
      const ref = join(repo, 'refs', snapshot ?? 'main');
      if (existsSync(ref)) snapshot = readFileSync(ref, 'utf8').trim();
    }
    if (!snapshot) {
      const snaps = existsSync(join(repo, 'snapshots')) ? readdirSync(join(repo, 'snapshots')) : [];
      if (snaps.length === 1) snapshot = snaps[0];
    }
    if (snapshot && existsSync(join(repo, 'snapshots', snapshot))) return join(repo, 'snapshots', snapshot);
  }
  throw new MlxkError(
    `${arg}: not a directory and not in the local Hugging Face cache (looked in ${looked.join(', ')})`,
    `mlxk never downloads; fetch it first, e.g. \`huggingface-cli download ${org}/${name}\`, or pass a directory`,
  );
}

export class Checkpoint {
  readonly tensors = new Map<string, TensorInfo>();
  private readonly files = new Map<string, SafetensorsFile>();

  private constructor(readonly dir: string, readonly config: JsonObject) {}

  /** Open a model directory or cached repo id. Only headers are read. */
  static open(arg: string): Checkpoint {
    const dir = resolveModelPath(arg);
    const configPath = join(dir, 'config.json');
    if (!existsSync(configPath)) throw new CheckpointError(dir, 'has no config.json (is this a model directory?)');
    const ckpt = new Checkpoint(dir, readJson(configPath));
    try {
      ckpt.openShards();
    } catch (e) {
      ckpt.close();
      throw e;
    }
    return ckpt;
  }

  get shardFiles(): string[] {
    return [...this.files.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new CheckpointError(this.dir, `has no tensor "${name}"`);
    return t;
  }

  file(name: string): SafetensorsFile {
    return this.files.get(this.info(name).file)!;
  }

  read(name: string): Buffer {
    return this.file(name).read(name);
  }

  readRange(name: string, offset: number, length: number): Buffer {
    return this.file(name).readRange(name, offset, length);
  }

  /** Total bytes of tensor data. */
  get dataBytes(): number {
    let n = 0;
    for (const t of this.tensors.values()) n += t.end - t.start;
    return n;
  }

  close(): void {
    for (const f of this.files.values()) f.close();
    this.files.clear();
  }

  private openShards(): void {
    const indexPath = join(this.dir, 'model.safetensors.index.json');
    if (existsSync(indexPath)) {
      const index = readJson(indexPath);
      const map = index.weight_map;
      if (map === null || typeof map !== 'object' || Array.isArray(map)) throw new CheckpointError(indexPath, 'weight_map must be an object of tensor name → shard file');
      const byFile = new Map<string, string[]>();
      for (const [name, file] of Object.entries(map as Record<string, unknown>)) {
        if (typeof file !== 'string' || !/^[^/\\\0]+\.safetensors$/.test(file) || file.startsWith('.')) {
          throw new CheckpointError(indexPath, `weight_map["${name}"] must be a *.safetensors file name in this directory, got ${JSON.stringify(file)}`);
        }
        byFile.set(file, [...(byFile.get(file) ?? []), name]);
      }
      for (const [file, names] of byFile) {
        const path = join(this.dir, file);
        if (!existsSync(path)) throw new CheckpointError(path, `missing shard (listed in model.safetensors.index.json for ${names.length} tensors, e.g. "${names[0]}")`);
        if (!statSync(path).isFile()) throw new CheckpointError(path, `is not a file (listed in model.safetensors.index.json as a shard)`);
        const st = this.addFile(path);
        for (const n of names) if (!st.tensors.has(n)) throw new CheckpointError(path, `has no tensor "${n}" although the index maps it here`);
      }
      return;
    }
    const shards = readdirSync(this.dir).filter((f) => f.endsWith('.safetensors')).sort();
    const modelShards = shards.filter((f) => f.startsWith('model'));
    const use = modelShards.length > 0 ? modelShards : shards;
    if (use.length === 0) throw new CheckpointError(this.dir, 'contains no *.safetensors files');
    for (const f of use) this.addFile(join(this.dir, f));
  }

  private addFile(path: string): SafetensorsFile {
    const st = SafetensorsFile.open(path);
    this.files.set(path, st);
    for (const [name, info] of st.tensors) {
      const prev = this.tensors.get(name);
      if (prev) throw new CheckpointError(path, `tensor "${name}" is also in ${prev.file}`);
      this.tensors.set(name, info);
    }
    return st;
  }
}
