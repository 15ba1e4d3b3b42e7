// A sharded job on a real Slurm (.ci/slurm.sh: one node on 127.0.0.1, 2 CPUs, 2 stand-in GPUs):
// an array job over 8 shards through deploy/slurm/batchfit-array.sbatch, one running shard
// scancel'ed mid-write and resubmitted, then status and merge against a single-process run;
// a finished job resubmitted does no work; a truncated output is found and redone.
// Runs only with BATCHFIT_SLURM=1 (.ci/run sets it after starting Slurm) and a built dist/.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeRuSeries } from './series.js';

const root = join(import.meta.dirname, '..', '..');
const enabled = process.env.BATCHFIT_SLURM === '1';
if (!enabled) console.warn('test/shard/slurm.test.ts skipped: set BATCHFIT_SLURM=1 after `.ci/slurm.sh start` (and `npm run build`) to run it on Slurm');

const FILES = 4;
const PER_FILE = 500;
const SHARDS = 8; // 250 spectra each: every file is two shards
const entry = join(root, 'dist', 'cli', 'index.js');
const sbatchScript = join(root, 'deploy', 'slurm', 'batchfit-array.sbatch');
const env = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: process.env.HOME ?? '/root',
  SLURM_CONF: process.env.SLURM_CONF ?? '/tmp/batchfit-slurm/slurm.conf',
  BATCHFIT: `${process.execPath} ${entry}`,
  XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp/batchfit-xdg',
};

let dir: string;
let manifest: string;

function sh(cmd: string, args: string[]): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', env, cwd: dir });
}

function ok(cmd: string, args: string[]): string {
  const r = sh(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} → ${r.status}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** `batchfit <command> …` through the built entry point. */
function batchfit(...args: string[]): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [entry, ...args], { encoding: 'utf8', env, cwd: dir });
}

/** Submits array indices `array` of the job script; returns the job id. */
function submit(array: string): string {
  return ok('sbatch', ['--parsable', `--array=${array}`, '--cpus-per-task=1', '--mem=1G', `--chdir=${dir}`, `--output=${dir}/slurm-%A_%a.out`, sbatchScript, manifest, '--device', 'cpu']).trim().split(';')[0]!;
}

/** Array tasks of `job` still queued or running, as "index state" pairs. */
function tasks(job: string): { index: number; state: string }[] {
  return ok('squeue', ['-h', '-r', '-j', job, '-o', '%K %T'])
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [i, s] = l.trim().split(/\s+/);
      return { index: Number(i), state: s! };
    });
}

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 240_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The final state Slurm records for array task `job_index` (kept MinJobAge = 600 s by .ci/slurm.sh). */
function taskState(job: string, index: number): string {
  return /JobState=(\S+)/.exec(ok('scontrol', ['show', 'job', `${job}_${index}`]))?.[1] ?? 'unknown';
}

function logsOf(job: string): string[] {
  return readdirSync(dir).filter((n) => n.startsWith(`slurm-${job}_`)).map((n) => readFileSync(join(dir, n), 'utf8'));
}

/** The merged (or any shard) table's rows, every column as plain values. */
function tableRows(path: string): Record<string, unknown>[] {
  const t = tableFromIPC(readFileSync(path));
  const names = t.schema.fields.map((f) => f.name);
  const rows: Record<string, unknown>[] = [];
  for (let i = 0; i < t.numRows; i++) {
    const row: Record<string, unknown> = {};
    for (const n of names) {
      const v = t.getChild(n)!.get(i) as unknown;
      row[n] = v !== null && typeof v === 'object' && 'toArray' in v ? Array.from((v as { toArray(): Float64Array }).toArray()) : v;
    }
    rows.push(row);
  }
  return rows;
}

describe.skipIf(!enabled)('a sharded job on Slurm', () => {
  beforeAll(() => {
    if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
    const built = statSync(entry).mtimeMs;
    for (const src of ['src/shard/run.ts', 'src/shard/manifest.ts', 'src/shard/autobkProcessor.ts', 'src/cli/shard.ts']) {
      if (statSync(join(root, src)).mtimeMs > built) throw new Error(`${src} is newer than dist/: run \`npm run build\` first`);
    }
    const info = sh('sinfo', ['-h', '-o', '%T']);
    if (info.status !== 0) throw new Error(`Slurm is not reachable (SLURM_CONF=${env.SLURM_CONF}): ${info.stderr} — start it with .ci/slurm.sh start`);
    dir = mkdtempSync('/tmp/batchfit-slurm-job-');
    writeRuSeries(dir, FILES, PER_FILE);
    manifest = join(dir, 'job.json');
    const plan = batchfit('plan', ...Array.from({ length: FILES }, (_, f) => join(dir, `series-0${f}.dat`)), '--manifest', manifest, '--shards', String(SHARDS));
    expect(plan.status, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/2000 spectra in 4 files → 8 shards of 250–250/);
  });
  afterAll(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  let firstMerge: Buffer;

  it('runs the array, survives a shard killed mid-write and resubmitted, and merges to the single-process result', async () => {
    const job = submit(`0-${SHARDS - 1}`);
    // Kill a shard that is running and has started writing its output.
    const victim = await waitFor('a running shard writing its output', () => {
      const queued = tasks(job);
      // Each shard runs for seconds (parsing 4 MB, 250 fits on one core): ending unseen means a far faster machine.
      if (queued.length === 0) throw new Error('every shard finished before one was seen running: make the shards larger');
      const running = queued.filter((t) => t.state === 'RUNNING');
      const files = existsSync(join(dir, 'job.shards')) ? readdirSync(join(dir, 'job.shards')) : [];
      return running.find((t) => files.some((n) => n.startsWith(`.shard-0000${t.index}.arrow.`) && n.endsWith('.tmp')))?.index;
    });
    ok('scancel', [`${job}_${victim}`]);
    await waitFor('the array to finish', () => tasks(job).length === 0);
    expect(taskState(job, victim)).toBe('CANCELLED');
    for (let i = 0; i < SHARDS; i++) if (i !== victim) expect(taskState(job, i)).toBe('COMPLETED');

    // The killed shard left nothing that passes as finished; status names it and the redo range.
    let st = batchfit('status', '--manifest', manifest);
    expect(st.status).toBe(1);
    expect(st.stdout).toContain(`shard ${victim}: missing: not finished (1 temporary file: running, or killed)`);
    expect(st.stdout).toContain(`8 shards: 7 done, 1 missing, 0 failed, 0 corrupt; items 1750/2000 done`);
    expect(st.stdout).toContain(`to (re)run: ${victim} (e.g. sbatch --array=${victim} …)`);
    expect(batchfit('merge', '--manifest', manifest, '--out', join(dir, 'early.arrow')).status).toBe(1);

    const again = submit(String(victim));
    await waitFor('the resubmitted shard', () => tasks(again).length === 0);
    expect(taskState(again, victim)).toBe('COMPLETED');
    st = batchfit('status', '--manifest', manifest);
    expect(st.status, st.stdout).toBe(0);
    expect(st.stdout).toMatch(/8 shards: 8 done, 0 missing, 0 failed, 0 corrupt; items 2000\/2000 done \(1980 ok, 20 failed; /);
    expect(readdirSync(join(dir, 'job.shards')).filter((n) => n.endsWith('.tmp'))).toEqual([]);

    const merged = join(dir, 'merged.arrow');
    const m = batchfit('merge', '--manifest', manifest, '--out', merged);
    expect(m.status, m.stderr).toBe(0);
    firstMerge = readFileSync(merged);

    // The single-process run: the same inputs planned as one shard, run in one process.
    const single = join(dir, 'single.json');
    const inputs = Array.from({ length: FILES }, (_, f) => join(dir, `series-0${f}.dat`));
    expect(batchfit('plan', ...inputs, '--manifest', single, '--shards', '1').status).toBe(0);
    const r = batchfit('run', '--manifest', single, '--shard', '0', '--device', 'cpu', '--workers', '1');
    expect(r.status, r.stderr).toBe(0);
    const one = tableRows(join(dir, 'single.shards', 'shard-00000.arrow'));
    const got = tableRows(merged);
    expect(got.length).toBe(FILES * PER_FILE);
    // Nothing lost or duplicated: items 0 … 1999 once each, in order.
    expect(got.map((row) => row.item)).toEqual(Array.from({ length: FILES * PER_FILE }, (_, i) => i));
    for (let i = 0; i < got.length; i++) {
      if (JSON.stringify(got[i]) !== JSON.stringify(one[i])) expect(got[i]).toEqual(one[i]);
    }
    expect(got.filter((row) => row.status === 'error')).toHaveLength(20); // every 97th spectrum is a dead channel
  });

  it('resubmitting the finished job does no work: every shard is skipped and says so', async () => {
    const before = readdirSync(join(dir, 'job.shards')).map((n) => [n, statSync(join(dir, 'job.shards', n)).mtimeMs]);
    const job = submit(`0-${SHARDS - 1}`);
    await waitFor('the array to finish', () => tasks(job).length === 0);
    const logs = logsOf(job);
    expect(logs).toHaveLength(SHARDS);
    for (const log of logs) expect(log).toMatch(/^shard \d\/8: already done, skipped \(marker matches manifest [0-9a-f]{12}…, output checksum verified; 250 items/m);
    expect(readdirSync(join(dir, 'job.shards')).map((n) => [n, statSync(join(dir, 'job.shards', n)).mtimeMs])).toEqual(before);
  });

  it('finds a truncated shard output, redoes it on Slurm, and merges the same rows', async () => {
    const out = join(dir, 'job.shards', 'shard-00005.arrow');
    writeFileSync(out, readFileSync(out).subarray(0, 4096));
    let st = batchfit('status', '--manifest', manifest);
    expect(st.status).toBe(1);
    expect(st.stdout).toMatch(/shard 5: corrupt: output has 4096 bytes, the marker says \d+ \(truncated or rewritten\): redo/);
    const job = submit('5');
    await waitFor('the redone shard', () => tasks(job).length === 0);
    expect(logsOf(job)[0]).toMatch(/shard 5\/8: corrupt: .*\n.*\nshard 5\/8: done: 250 items/);
    st = batchfit('status', '--manifest', manifest);
    expect(st.status).toBe(0);
    const merged = join(dir, 'merged.arrow');
    expect(batchfit('merge', '--manifest', manifest, '--out', merged).status).toBe(2); // exists: needs --force
    expect(batchfit('merge', '--manifest', manifest, '--out', merged, '--force').status).toBe(0);
    expect(readFileSync(merged).equals(firstMerge)).toBe(true);
  });
});
