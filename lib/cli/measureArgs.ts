// Arguments shared by the measuring verbs (bench, perplexity, eval-quants): size
// lists, model labels, the command line as reports quote it, and where
// report files go.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
import { MlxkError } from '../io/errors.js';

export function positiveInts(text: string, flag: string): number[] {
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = items.find((s) => !/^\d+$/.test(s) || Number(s) < 1);
  if (items.length === 0 || bad !== undefined) throw new MlxkError(`${flag} must be comma-separated positive integers (e.g. 1000,5000), got "${text}"`);
  return items.map(Number);
}

export function positiveInt(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  return positiveInts(text, flag)[0]!;
}

export function nonNegativeInt(text: string, flag: string): number {
  if (!/^\s*\d+\s*$/.test(text)) throw new MlxkError(`${flag} must be a non-negative integer, got "${text}"`);
  return Number(text);
}

/** `LABEL=PATH` names a column; a bare path is labelled by its directory name. */
export function labelledModel(arg: string): { label: string; path: string } {
  const eq = arg.indexOf('=');
  if (eq > 0 && !existsSync(arg)) return { label: arg.slice(0, eq), path: arg.slice(eq + 1) };
  return { label: basename(resolve(arg)), path: arg };
}

/** The command as typed, for reports (shell-quoted where needed). */
export function commandLine(argv: string[] = process.argv): string {
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return ['mlxk', ...argv.slice(2)].map(quote).join(' ');
}

/** FILE.md (or FILE) → the markdown, .json and .svg paths written next to each other. */
export function reportPaths(out: string): { md: string; json: string; svg: string } {
  const ext = extname(out);
  const stem = ext === '.md' || ext === '.json' || ext === '.svg' ? out.slice(0, -ext.length) : out;
  return { md: `${stem}.md`, json: `${stem}.json`, svg: `${stem}.svg` };
}

export function writeReportFiles(out: string, files: { md: string; json: unknown; svg: string }): void {
  const p = reportPaths(out);
  mkdirSync(dirname(resolve(p.md)), { recursive: true });
  writeFileSync(p.md, files.md);
  writeFileSync(p.json, `${JSON.stringify(files.json, null, 2)}\n`);
  writeFileSync(p.svg, files.svg);
}
