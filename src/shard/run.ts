/**
 * Planning, running, checking and merging shards. The contract with the engines (Slurm arrays,
 * Kubernetes Indexed Jobs, a shell loop): an index in; an independent, re-runnable piece of work;
 * a result file and a done marker out.
 *
 * Files of shard i in the manifest's output folder:
 *   shard-0000i.arrow       its rows, renamed into place only once complete and flushed
 *   shard-0000i.done.json   the done marker, written (same way) after the output: counts, the
 *                           manifest hash, the output's size and SHA-256
 *   shard-0000i.failed.json why the shard failed (its input could not be read)
 *   .shard-0000i.arrow.<host>.<pid>.tmp  work in progress (or a killed run's leftover)
 * A shard is done only when its marker names this manifest's hash and its output has the size
 * and checksum in the marker: a shard killed at any point leaves nothing that passes.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import {
  defaultShardCount,
  makeManifest,
  manifestRelative,
  manifestText,
  planShards,
  readManifest,
  resolveFromManifest,
  sha256Hex,
  ShardInputError,
  type JsonValue,
  type ManifestInput,
  type ShardManifest,
} from './manifest.js';
import type { ShardCounts, ShardProcessor } from './processor.js';
import { autobkShardProcessor } from './autobkProcessor.js';

/** Processors by manifest name. */
export const SHARD_PROCESSORS: Readonly<Record<string, ShardProcessor>> = { [autobkShardProcessor.name]: autobkShardProcessor };

function processorOf(m: ShardManifest): ShardProcessor {
  const p = SHARD_PROCESSORS[m.processor];
  if (p === undefined) throw new ShardInputError(`manifest processor = ${JSON.stringify(m.processor)} is not one of ${Object.keys(SHARD_PROCESSORS).join(', ')}`);
  return p;
}

const DONE_FORMAT = 'batchfit-shard-done/1';

/** The done marker of a finished shard. */
export interface ShardMarker {
  format: typeof DONE_FORMAT;
  manifestHash: string;
  shard: number;
  items: number;
  ok: number;
  failed: number;
  statuses: Record<string, number>;
  output: { file: string; bytes: number; sha256: string };
  device: string;
  seconds: number;
  host: string;
}

function pad(i: number): string {
  return String(i).padStart(5, '0');
}

/** Paths of shard `index`'s files. */
export function shardFiles(manifestPath: string, m: ShardManifest, index: number): { dir: string; output: string; marker: string; failed: string; tmpPrefix: string } {
  const dir = resolveFromManifest(manifestPath, m.output);
  const name = `shard-${pad(index)}${processorOf(m).extension}`;
  return { dir, output: join(dir, name), marker: join(dir, `shard-${pad(index)}.done.json`), failed: join(dir, `shard-${pad(index)}.failed.json`), tmpPrefix: `.${name}.` };
}

async function fileSha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Writes `text` to `path` through a temporary name, flushed, then renamed: readers see all of it or nothing. */
function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.${hostname()}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  syncFile(tmp);
  renameSync(tmp, path);
  syncFile(dirname(path));
}

function syncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** done: verified output; missing: not run, running or killed; failed: input unreadable; corrupt: output differs from its marker. */
export type ShardState = 'done' | 'missing' | 'failed' | 'corrupt';

/** One shard's state as found on disk. */
export interface ShardCheck {
  index: number;
  state: ShardState;
  /** Why, in words ('output checksum differs from the marker: redo'). */
  detail: string;
  marker?: ShardMarker;
}

/**
 * The state of one shard from its files: 'done' (marker of this manifest, output of the marked
 * size and checksum), 'corrupt' (a marker whose output is missing, truncated or altered, or a
 * marker of another manifest: redo), 'failed' (a failure record and no done marker), else
 * 'missing' (never run, running, or killed: temporary files are named in the detail).
 */
export async function checkShard(manifestPath: string, m: ShardManifest, index: number): Promise<ShardCheck> {
  const f = shardFiles(manifestPath, m, index);
  let markerText: string | null = null;
  try {
    markerText = readFileSync(f.marker, 'utf8');
  } catch {
    markerText = null;
  }
  if (markerText !== null) {
    let marker: ShardMarker;
    try {
      marker = JSON.parse(markerText) as ShardMarker;
    } catch {
      return { index, state: 'corrupt', detail: 'done marker is not JSON: redo' };
    }
    if (marker.format !== DONE_FORMAT || marker.manifestHash !== m.hash || marker.shard !== index) {
      return { index, state: 'corrupt', detail: `done marker belongs to another manifest (${String(marker.manifestHash).slice(0, 12)}…) or shard: redo` };
    }
    let bytes: number;
    try {
      bytes = statSync(f.output).size;
    } catch {
      return { index, state: 'corrupt', detail: 'done marker without its output file: redo', marker };
    }
    if (bytes !== marker.output.bytes) return { index, state: 'corrupt', detail: `output has ${bytes} bytes, the marker says ${marker.output.bytes} (truncated or rewritten): redo`, marker };
    const sum = await fileSha256(f.output);
    if (sum !== marker.output.sha256) return { index, state: 'corrupt', detail: `output checksum ${sum.slice(0, 12)}… differs from the marker's ${marker.output.sha256.slice(0, 12)}…: redo`, marker };
    return { index, state: 'done', detail: `${marker.items} items (${marker.ok} ok, ${marker.failed} failed) on the ${marker.device.toUpperCase()}, ${marker.seconds.toFixed(1)} s on ${marker.host}`, marker };
  }
  try {
    const failure = JSON.parse(readFileSync(f.failed, 'utf8')) as { manifestHash?: string; error?: string };
    if (failure.manifestHash === m.hash) return { index, state: 'failed', detail: failure.error ?? 'failed' };
  } catch {
    // no failure record (or an unreadable one): the shard simply has not finished
  }
  let temps: string[] = [];
  try {
    temps = readdirSync(f.dir).filter((n) => n.startsWith(f.tmpPrefix));
  } catch {
    temps = [];
  }
  return { index, state: 'missing', detail: temps.length === 0 ? 'not run' : `not finished (${temps.length} temporary file${temps.length > 1 ? 's' : ''}: running, or killed)` };
}

/** What planJob needs: inputs, where the manifest goes, the job's options and shard count. */
export interface PlanOptions {
  /** Input files (one job item per spectrum they hold), in the order items are numbered. */
  inputs: readonly string[];
  /** Where the manifest goes (paths in it are relative to its folder). */
  manifestPath: string;
  processor?: ShardProcessor;
  options: { [key: string]: JsonValue };
  /** Shard count; default from the data size (defaultShardCount). */
  shards?: number;
  /** Output folder, relative to the manifest's folder (default '<manifest name>.shards'). */
  output?: string;
  /** Replace an existing manifest that differs (default: refuse; an identical one is left as it is). */
  force?: boolean;
}

/**
 * Reads every input once (size, SHA-256, item count) and writes the manifest; returns it.
 * Deterministic: the same inputs and options give the same manifest, byte for byte.
 */
export async function planJob(p: PlanOptions): Promise<ShardManifest> {
  const processor = p.processor ?? autobkShardProcessor;
  const options = processor.checkOptions(p.options);
  if (p.inputs.length === 0) throw new RangeError('plan: no input files');
  const inputs: ManifestInput[] = [];
  for (const path of p.inputs) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      throw new ShardInputError(`input ${path} cannot be read: ${(e as Error).message}`);
    }
    inputs.push({ path: manifestRelative(p.manifestPath, path), bytes: bytes.length, sha256: sha256Hex(bytes), items: await processor.countItems(bytes, path, options) });
  }
  const items = inputs.reduce((a, f) => a + f.items, 0);
  const totalBytes = inputs.reduce((a, f) => a + f.bytes, 0);
  const count = p.shards ?? defaultShardCount(items, totalBytes);
  const output = p.output ?? `${basename(p.manifestPath).replace(/\.json$/i, '')}.shards`;
  const manifest = makeManifest({ processor: processor.name, options, inputs, shards: planShards(inputs.map((f) => f.items), count), output });
  const text = manifestText(manifest);
  let existing: string | null = null;
  try {
    existing = readFileSync(p.manifestPath, 'utf8');
  } catch {
    existing = null;
  }
  if (existing === text) return manifest;
  if (existing !== null && !p.force) throw new ShardInputError(`${p.manifestPath} exists and plans another job (its shards would no longer match): give --force to replace it, or another --manifest`);
  mkdirSync(dirname(p.manifestPath) || '.', { recursive: true });
  writeAtomic(p.manifestPath, text);
  return manifest;
}

/**
 * The shard index of this process: `explicit` (--shard), else SLURM_ARRAY_TASK_ID, else
 * JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs), checked against the manifest's shard count.
 */
export function shardIndexFrom(explicit: string | number | undefined, env: NodeJS.ProcessEnv, shardCount: number): number {
  const [source, raw] =
    explicit !== undefined ? ['--shard', String(explicit)] : env.SLURM_ARRAY_TASK_ID !== undefined ? ['SLURM_ARRAY_TASK_ID', env.SLURM_ARRAY_TASK_ID] : env.JOB_COMPLETION_INDEX !== undefined ? ['JOB_COMPLETION_INDEX', env.JOB_COMPLETION_INDEX] : [null, ''];
  if (source === null) throw new RangeError('no shard index: give --shard I, or run as a Slurm array task (SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX)');
  if (!/^\d+$/.test(raw) || Number(raw) >= shardCount) throw new RangeError(`${source} = ${JSON.stringify(raw)} must be an integer in [0, ${shardCount - 1}] (the manifest has ${shardCount} shards)`);
  return Number(raw);
}

/** How runShard runs a shard: device, CPU threads, where its lines go, whether to redo a done shard. */
export interface RunShardOptions {
  device?: 'auto' | 'gpu' | 'cpu';
  workers?: number;
  /** One line per event (default console.log). */
  log?: (line: string) => void;
  /** Run even when the shard's marker says it is done (default false). */
  force?: boolean;
}

/** What runShard did with the shard. */
export interface RunShardResult {
  index: number;
  /** 'skipped': already done (marker and output checksum match); 'failed': its input could not be read. */
  outcome: 'done' | 'skipped' | 'failed';
  marker?: ShardMarker;
  error?: string;
}

/** Removes this shard's temporary files left by processes of this host that no longer exist. */
function removeDeadTemps(dir: string, prefix: string): void {
  const host = hostname();
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.startsWith(prefix) && n.endsWith('.tmp'));
  } catch {
    return;
  }
  for (const n of names) {
    const [h, pid] = n.slice(prefix.length, -'.tmp'.length).split(/\.(?=\d+$)/);
    if (h !== host || pid === undefined) continue;
    try {
      process.kill(Number(pid), 0);
    } catch {
      rmSync(join(dir, n), { force: true });
    }
  }
}

/**
 * Runs shard `index` of the manifest at `manifestPath`: skipped when already done; otherwise
 * its output is written under a temporary name, flushed and renamed, then its done marker is
 * written the same way. Per-item failures are rows of the output; the shard fails (a failure
 * record, outcome 'failed') only when an input cannot be read or differs from the manifest.
 */
export async function runShard(manifestPath: string, index: number, o: RunShardOptions = {}): Promise<RunShardResult> {
  const log = o.log ?? ((line: string) => console.log(line));
  const m = readManifest(manifestPath);
  const processor = processorOf(m);
  const shard = m.shards[index];
  if (shard === undefined) throw new RangeError(`shard = ${index} must be an integer in [0, ${m.shardCount - 1}]`);
  const f = shardFiles(manifestPath, m, index);
  const tag = `shard ${index}/${m.shardCount}`;
  if (!o.force) {
    const check = await checkShard(manifestPath, m, index);
    if (check.state === 'done') {
      log(`${tag}: already done, skipped (marker matches manifest ${m.hash.slice(0, 12)}…, output checksum verified; ${check.detail})`);
      return { index, outcome: 'skipped', marker: check.marker! };
    }
    if (check.state !== 'missing') log(`${tag}: ${check.state}: ${check.detail}`);
  }
  mkdirSync(f.dir, { recursive: true });
  // Whatever was there stops counting as done before any new byte is written.
  rmSync(f.marker, { force: true });
  rmSync(f.failed, { force: true });
  removeDeadTemps(f.dir, f.tmpPrefix);
  const tmp = join(f.dir, `${f.tmpPrefix}${hostname()}.${process.pid}.tmp`);
  const t0 = performance.now();
  log(`${tag}: ${shard.items} items (job items ${shard.item}…${shard.item + shard.items - 1}) → ${basename(f.output)}`);
  let counts: ShardCounts;
  try {
    counts = await processor.process({
      manifest: m,
      manifestPath,
      shard,
      readInput: (i) => readCheckedInput(manifestPath, m, i),
      outPath: tmp,
      device: o.device ?? 'auto',
      ...(o.workers === undefined ? {} : { workers: o.workers }),
      log,
    });
  } catch (e) {
    rmSync(tmp, { force: true });
    if (!(e instanceof ShardInputError)) throw e;
    writeAtomic(f.failed, `${JSON.stringify({ format: 'batchfit-shard-failed/1', manifestHash: m.hash, shard: index, error: e.message, host: hostname() }, null, 2)}\n`);
    log(`${tag}: failed: ${e.message}`);
    return { index, outcome: 'failed', error: e.message };
  }
  if (counts.items !== shard.items) {
    rmSync(tmp, { force: true });
    throw new Error(`${tag}: wrote ${counts.items} rows for ${shard.items} items`);
  }
  syncFile(tmp);
  const bytes = statSync(tmp).size;
  const sha256 = await fileSha256(tmp);
  renameSync(tmp, f.output);
  syncFile(f.dir);
  const marker: ShardMarker = {
    format: DONE_FORMAT,
    manifestHash: m.hash,
    shard: index,
    items: counts.items,
    ok: counts.items - counts.failed,
    failed: counts.failed,
    statuses: counts.statuses,
    output: { file: basename(f.output), bytes, sha256 },
    device: counts.device,
    seconds: (performance.now() - t0) / 1000,
    host: hostname(),
  };
  writeAtomic(f.marker, `${JSON.stringify(marker, null, 2)}\n`);
  log(`${tag}: done: ${marker.items} items, ${marker.ok} ok, ${marker.failed} failed (${Object.entries(marker.statuses).map(([k, v]) => `${k} ${v}`).join(', ')}) on the ${marker.device.toUpperCase()} in ${marker.seconds.toFixed(1)} s`);
  return { index, outcome: 'done', marker };
}

/** Input i's bytes, checked against the manifest (size first, then SHA-256). */
function readCheckedInput(manifestPath: string, m: ShardManifest, i: number): Uint8Array {
  const input = m.inputs[i]!;
  const path = resolveFromManifest(manifestPath, input.path);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new ShardInputError(`input ${input.path} cannot be read: ${(e as Error).message}`);
  }
  if (bytes.length !== input.bytes) throw new ShardInputError(`input ${input.path} has ${bytes.length} bytes, the manifest ${input.bytes}: it changed after planning`);
  const sum = sha256Hex(bytes);
  if (sum !== input.sha256) throw new ShardInputError(`input ${input.path}: SHA-256 ${sum.slice(0, 12)}… differs from the manifest's ${input.sha256.slice(0, 12)}…: it changed after planning`);
  return bytes;
}

/** Every shard's state and the totals of a job (shardStatus). */
export interface JobStatus {
  manifest: ShardManifest;
  shards: ShardCheck[];
  /** Shards per state. */
  counts: Record<ShardState, number>;
  /** Items of the done shards: total, ok, failed and per status. */
  items: { done: number; ok: number; failed: number; statuses: Record<string, number> };
}

/** Every shard's state (checksums verified) and the totals. */
export async function shardStatus(manifestPath: string): Promise<JobStatus> {
  const m = readManifest(manifestPath, { anyVersion: true });
  const shards: ShardCheck[] = [];
  for (let i = 0; i < m.shardCount; i++) shards.push(await checkShard(manifestPath, m, i));
  const counts: Record<ShardState, number> = { done: 0, missing: 0, failed: 0, corrupt: 0 };
  const items = { done: 0, ok: 0, failed: 0, statuses: {} as Record<string, number> };
  for (const s of shards) {
    counts[s.state]++;
    if (s.state !== 'done') continue;
    items.done += s.marker!.items;
    items.ok += s.marker!.ok;
    items.failed += s.marker!.failed;
    for (const [k, v] of Object.entries(s.marker!.statuses)) items.statuses[k] = (items.statuses[k] ?? 0) + v;
  }
  return { manifest: m, shards, counts, items };
}

/** Status as lines of text: one per shard that is not done, then the totals. */
export function statusLines(st: JobStatus): string[] {
  const lines = st.shards.filter((s) => s.state !== 'done').map((s) => `shard ${s.index}: ${s.state}: ${s.detail}`);
  const c = st.counts;
  lines.push(
    `${st.manifest.shardCount} shards: ${c.done} done, ${c.missing} missing, ${c.failed} failed, ${c.corrupt} corrupt; ` +
      `items ${st.items.done}/${st.manifest.items} done (${st.items.ok} ok, ${st.items.failed} failed${Object.keys(st.items.statuses).length === 0 ? '' : `; ${Object.entries(st.items.statuses).map(([k, v]) => `${k} ${v}`).join(', ')}`})`,
  );
  const redo = st.shards.filter((s) => s.state !== 'done').map((s) => s.index);
  if (redo.length > 0) lines.push(`to (re)run: ${compactRanges(redo)} (e.g. sbatch --array=${compactRanges(redo)} …)`);
  return lines;
}

/** 0,1,2,5,7,8 → "0-2,5,7-8" (Slurm's --array syntax). */
export function compactRanges(indices: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < indices.length; ) {
    let j = i;
    while (j + 1 < indices.length && indices[j + 1] === indices[j]! + 1) j++;
    parts.push(i === j ? `${indices[i]}` : `${indices[i]}-${indices[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/**
 * Concatenates every shard's output in manifest order into `outPath` (through a temporary name);
 * refuses unless every shard is done, naming the others. Returns the row count.
 */
export async function mergeShards(manifestPath: string, outPath: string, o: { force?: boolean } = {}): Promise<{ rows: number; status: JobStatus }> {
  const st = await shardStatus(manifestPath);
  const notDone = st.shards.filter((s) => s.state !== 'done');
  if (notDone.length > 0) {
    throw new ShardInputError(`${notDone.length} of ${st.manifest.shardCount} shards are not done (${notDone.slice(0, 10).map((s) => `${s.index} ${s.state}`).join(', ')}${notDone.length > 10 ? ', …' : ''}): run them first`);
  }
  if (!o.force) {
    let exists = false;
    try {
      statSync(outPath);
      exists = true;
    } catch {
      exists = false;
    }
    if (exists) throw new ShardInputError(`${outPath} exists (--force to replace it)`);
  }
  const processor = processorOf(st.manifest);
  const parts = st.shards.map((s) => shardFiles(manifestPath, st.manifest, s.index).output);
  const tmp = `${outPath}.${hostname()}.${process.pid}.tmp`;
  try {
    const rows = await processor.merge(parts, tmp, st.manifest);
    syncFile(tmp);
    renameSync(tmp, outPath);
    return { rows, status: st };
  } finally {
    rmSync(tmp, { force: true });
  }
}
