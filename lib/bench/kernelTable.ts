// The shared frame of the single-thread kernel tables (benchmarks/gemv-shapes.ts, gemm-rows.ts):
// flags, bit widths, and the markdown written to stdout and --out with the load around the run.
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { SUPPORTED_BITS, type Bits } from '../quant/affine.js';

/** `--name VALUE` from argv, or undefined. */
export function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

/** A comma-separated list of bit widths, each one mlxk supports. */
export function widths(tool: string, value: string): Bits[] {
  const bits = value.split(',').map(Number) as Bits[];
  for (const b of bits) if (!SUPPORTED_BITS.includes(b)) throw new Error(`${tool}: --bits ${b} is not one of ${SUPPORTED_BITS.join(', ')}`);
  return bits;
}

/** Collects table lines (echoing each row to stderr as it lands) and prints them with the load average at start and end. */
export class KernelTable {
  private readonly load0 = loadavg()[0]!;
  readonly lines: string[] = [];

  constructor(header: string, columns: string[]) {
    this.lines.push(header, '', `| ${columns.join(' | ')} |`, `|${columns.map(() => '---').join('|')}|`);
  }

  row(cells: string[]): void {
    this.lines.push(`| ${cells.join(' | ')} |`);
    console.error(this.lines[this.lines.length - 1]);
  }

  finish(out: string | undefined): void {
    this.lines.push('', `1-minute load average ${this.load0.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end.`);
    const text = this.lines.join('\n') + '\n';
    if (out) writeFileSync(out, text);
    process.stdout.write(text);
  }
}
