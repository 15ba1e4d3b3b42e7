/** Shared benchmark plumbing: machine description, tinybench summaries, JSON results. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, platform, release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bench } from 'tinybench';

/** Project root, from either bench/ (source) or build/bench/ (compiled). */
export const projectRoot = (() => {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.includes(`${join('build', 'bench')}`) ? resolve(here, '..', '..') : resolve(here, '..');
})();

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
}

export function machineInfo(): MachineInfo {
  const c = cpus();
  return {
    cpu: c[0]?.model.trim() ?? 'unknown',
    cores: c.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${platform()} ${release()}`,
    node: process.version,
  };
}

/** A file-name-safe label, e.g. for an adapter or a CPU model. */
export function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'unknown';
}

export interface TaskSummary {
  name: string;
  medianMs: number;
  meanMs: number;
  p99Ms: number;
  samples: number;
}

/** Median, mean and p99 of every task of a finished tinybench run. */
export function summarize(bench: Bench): TaskSummary[] {
  return bench.tasks.map((t) => {
    const r = t.result;
    if (r.state !== 'completed') throw new Error(`benchmark task ${t.name} did not complete: ${r.state}`);
    return {
      name: t.name,
      medianMs: r.latency.p50,
      meanMs: r.latency.mean,
      p99Ms: r.latency.p99,
      samples: r.latency.samplesCount,
    };
  });
}

/** Writes `bench/results/<name>.json` and returns its path. */
export function writeResult(name: string, data: unknown): string {
  const dir = join(projectRoot, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.json`);
  writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`);
  return path;
}
