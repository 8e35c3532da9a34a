// The conditions a measurement ran under, for every report: a number without the
// machine, its load and the versions is not reproducible (users.md §3.2).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, arch as osArch, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { isa, nativeAvailable, threads } from '../backend/native/addon.js';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryBytes: number;
  os: string;
  node: string;
  mlxk: string;
  /** git commit of the mlxk checkout, when it is one. */
  commit: string | null;
  mlxBinding: string | null;
  /** The native kernel addon: instruction set and threads, or null when not built. */
  nativeAddon: { isa: string; threads: number } | null;
  /** 1-, 5- and 15-minute load averages when the run started and ended. */
  loadAverageStart: number[];
  loadAverageEnd?: number[];
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function packageVersion(path: string): string | null {
  try {
    return String((JSON.parse(readFileSync(path, 'utf8')) as { version?: string }).version ?? null);
  } catch {
    return null;
  }
}

function gitCommit(): string | null {
  if (!existsSync(`${ROOT}.git`)) return null;
  try {
    const head = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${head}+changes` : head;
  } catch {
    return null;
  }
}

function rounded(xs: number[]): number[] {
  return xs.map((x) => Math.round(x * 100) / 100);
}

export function machineInfo(): MachineInfo {
  const c = cpus();
  let nativeAddon: MachineInfo['nativeAddon'] = null;
  if (nativeAvailable()) nativeAddon = { isa: isa(), threads: threads() };
  return {
    cpu: c[0]?.model.trim() ?? 'unknown',
    cores: c.length,
    memoryBytes: totalmem(),
    os: `${platform()} ${release()} ${osArch()}`,
    node: process.version,
    mlxk: packageVersion(`${ROOT}package.json`) ?? 'unknown',
    commit: gitCommit(),
    mlxBinding: packageVersion(`${ROOT}node_modules/@frost-beta/mlx/package.json`),
    nativeAddon,
    loadAverageStart: rounded(loadavg()),
  };
}

/** Records the load average at the end of the run. */
export function finishMachineInfo(m: MachineInfo): MachineInfo {
  return { ...m, loadAverageEnd: rounded(loadavg()) };
}

/** One line for report headers. */
export function machineLine(m: MachineInfo): string {
  const native = m.nativeAddon ? `, native addon ${m.nativeAddon.isa} × ${m.nativeAddon.threads} threads` : '';
  const load = `load average ${m.loadAverageStart.join(' / ')} at start${m.loadAverageEnd ? `, ${m.loadAverageEnd.join(' / ')} at end` : ''}`;
  return `${m.cpu}, ${m.cores} cores, ${(m.memoryBytes / 2 ** 30).toFixed(0)} GiB, ${m.os}; Node ${m.node}, mlxk ${m.mlxk}${m.commit ? ` (${m.commit})` : ''}, @frost-beta/mlx ${m.mlxBinding ?? 'absent'}${native}; ${load}`;
}

/** What every report opens with: title, partial-run warning, the command, notes, machine. */
export function reportHeader(h: { title: string; partialWarning?: string; date: string; command: string; notes: string[]; machineLine: string }): string[] {
  return [
    `# ${h.title}`,
    '',
    h.partialWarning ? `**${h.partialWarning}**\n` : '',
    `Measured ${h.date} with:`,
    '',
    '```',
    h.command,
    '```',
    '',
    ...h.notes.flatMap((n) => [n, '']),
    `Machine: ${h.machineLine}.`,
    '',
  ];
}
