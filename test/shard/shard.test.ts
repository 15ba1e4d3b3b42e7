// The shard contract without an engine: plan → run every shard in this process → status → merge,
// against one autobkBatch run of the same spectra; skipping, corruption, kills and bad inputs.
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as h5wasm from 'h5wasm';
import { autobkBatch, readSpectrum } from '../../src/xafs/index.js';
import { readHdf5 } from '../../src/xafs/readHdf5.js';
import { manifestHash, planShards, readManifest } from '../../src/shard/manifest.js';
import { checkShard, compactRanges, mergeShards, planJob, runShard, shardFiles, shardIndexFrom, shardStatus, statusLines } from '../../src/shard/run.js';
import { writeRuSeries, type SeriesFile } from './series.js';

const FILES = 2;
const PER_FILE = 45;
const SHARDS = 5; // 90 spectra: shards of 18, the third one straddles the two files
const run = { device: 'cpu' as const, workers: 0 };
const quiet = { ...run, log: () => undefined };

let dir: string;
let series: SeriesFile[];
let manifestPath: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'batchfit-shard-'));
  series = writeRuSeries(dir, FILES, PER_FILE, 17);
  manifestPath = join(dir, 'job.json');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Rows of an Arrow file as plain objects. */
function rowsOf(path: string): { item: number; name: string; status: string; message: string; e0: number; chisqr: number; chi: Float64Array | null }[] {
  const t = tableFromIPC(readFileSync(path));
  const out = [];
  for (let i = 0; i < t.numRows; i++) {
    const chi = t.getChild('chi')!.get(i) as { toArray(): Float64Array } | null;
    out.push({
      item: t.getChild('item')!.get(i) as number,
      name: t.getChild('name')!.get(i) as string,
      status: t.getChild('status')!.get(i) as string,
      message: t.getChild('message')!.get(i) as string,
      e0: t.getChild('e0')!.get(i) as number,
      chisqr: t.getChild('chisqr')!.get(i) as number,
      chi: chi === null ? null : chi.toArray(),
    });
  }
  return out;
}

describe('planShards', () => {
  it('cuts items into contiguous shards whose sizes differ by at most one, across input boundaries', () => {
    const counts = [7, 0, 3, 12];
    for (let n = 1; n <= 22; n++) {
      const shards = planShards(counts, n);
      expect(shards.length).toBe(n);
      const sizes = shards.map((s) => s.items);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      // Every (input, item) exactly once, in order.
      const seen: string[] = [];
      let next = 0;
      for (const s of shards) {
        expect(s.item).toBe(next);
        next += s.items;
        expect(s.segments.reduce((a, g) => a + g.count, 0)).toBe(s.items);
        for (const g of s.segments) for (let k = 0; k < g.count; k++) seen.push(`${g.input}:${g.first + k}`);
      }
      expect(seen).toEqual(counts.flatMap((c, i) => Array.from({ length: c }, (_, k) => `${i}:${k}`)));
      expect(planShards(counts, n)).toEqual(shards);
    }
    expect(() => planShards(counts, 23)).toThrow(/shards = 23 must be an integer in \[1, 22\]/);
    expect(() => planShards([0, 0], 1)).toThrow(/no items/);
    expect(() => planShards([2.5], 1)).toThrow(/input 0 has 2.5 items/);
  });

  it('takes the shard index from --shard, else SLURM_ARRAY_TASK_ID, else JOB_COMPLETION_INDEX', () => {
    expect(shardIndexFrom('3', { SLURM_ARRAY_TASK_ID: '1' }, 8)).toBe(3);
    expect(shardIndexFrom(undefined, { SLURM_ARRAY_TASK_ID: '1', JOB_COMPLETION_INDEX: '2' }, 8)).toBe(1);
    expect(shardIndexFrom(undefined, { JOB_COMPLETION_INDEX: '2' }, 8)).toBe(2);
    expect(() => shardIndexFrom(undefined, {}, 8)).toThrow(/no shard index/);
    expect(() => shardIndexFrom(undefined, { SLURM_ARRAY_TASK_ID: '8' }, 8)).toThrow(/SLURM_ARRAY_TASK_ID = "8" must be an integer in \[0, 7\]/);
    expect(() => shardIndexFrom('-1', {}, 8)).toThrow(/--shard/);
    expect(compactRanges([0, 1, 2, 5, 7, 8])).toBe('0-2,5,7-8');
  });
});

describe('a sharded AUTOBK job', () => {
  it('plans deterministically: same inputs, same manifest bytes, wherever it is planned', async () => {
    const m = await planJob({ inputs: series.map((s) => s.path), manifestPath, options: { layout: 'series', fit: { rbkg: 1.1 } }, shards: SHARDS });
    expect(m.items).toBe(FILES * PER_FILE);
    expect(m.shardCount).toBe(SHARDS);
    expect(m.inputs.map((f) => f.path)).toEqual(['series-00.dat', 'series-01.dat']);
    expect(m.inputs[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(m.hash).toBe(manifestHash(m));
    const text = readFileSync(manifestPath, 'utf8');
    // The same inputs copied elsewhere, planned again: the same bytes.
    const other = mkdtempSync(join(tmpdir(), 'batchfit-shard-copy-'));
    try {
      for (const s of series) copyFileSync(s.path, join(other, s.path.slice(dir.length + 1)));
      await planJob({ inputs: series.map((s) => join(other, s.path.slice(dir.length + 1))), manifestPath: join(other, 'job.json'), options: { fit: { rbkg: 1.1 }, layout: 'series' }, shards: SHARDS });
      expect(readFileSync(join(other, 'job.json'), 'utf8')).toBe(text);
      // Other options: another hash; replacing the manifest of a job needs force.
      const m2 = await planJob({ inputs: series.map((s) => s.path), manifestPath: join(other, 'job2.json'), options: { layout: 'series', fit: { rbkg: 1.2 } }, shards: SHARDS });
      expect(m2.hash).not.toBe(m.hash);
      await expect(planJob({ inputs: series.map((s) => s.path), manifestPath, options: { layout: 'series', fit: { rbkg: 1.2 } }, shards: SHARDS })).rejects.toThrow(/exists and plans another job/);
      expect((await planJob({ inputs: series.map((s) => s.path), manifestPath, options: { layout: 'series', fit: { rbkg: 1.1 } }, shards: SHARDS })).hash).toBe(m.hash);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
    // Bad options are refused at planning, naming the option.
    await expect(planJob({ inputs: [series[0]!.path], manifestPath: join(dir, 'bad.json'), options: { layout: 'series', fit: { rbkg: -1 } } })).rejects.toThrow(/rbkg/);
    await expect(planJob({ inputs: [join(dir, 'nope.dat')], manifestPath: join(dir, 'bad.json'), options: { layout: 'series', fit: {} } })).rejects.toThrow(/nope\.dat cannot be read/);
  });

  it('runs every shard, merges in manifest order, and equals one autobkBatch run item for item', async () => {
    const logs: string[] = [];
    for (let i = 0; i < SHARDS; i++) {
      const r = await runShard(manifestPath, i, { ...run, log: (l) => logs.push(l) });
      expect(r.outcome).toBe('done');
      expect(r.marker!.items).toBe(FILES * PER_FILE / SHARDS);
    }
    const st = await shardStatus(manifestPath);
    expect(st.counts).toEqual({ done: SHARDS, missing: 0, failed: 0, corrupt: 0 });
    expect(st.items.done).toBe(FILES * PER_FILE);
    const bad = FILES * PER_FILE / 17 | 0; // items 16, 33, 50, 67, 84: dead channels
    expect(st.items.failed).toBe(bad);
    expect(st.items.statuses.error).toBe(bad);
    expect(statusLines(st).at(-1)).toMatch(/5 shards: 5 done, 0 missing, 0 failed, 0 corrupt; items 90\/90 done \(85 ok, 5 failed; /);

    const merged = join(dir, 'merged.arrow');
    const { rows } = await mergeShards(manifestPath, merged);
    expect(rows).toBe(FILES * PER_FILE);
    const got = rowsOf(merged);
    expect(got.map((r) => r.item)).toEqual(Array.from({ length: FILES * PER_FILE }, (_, i) => i));

    // The single-process reference: each file as one packed series through autobkBatch.
    let item = 0;
    for (const s of series) {
      const spec = readSpectrum(readFileSync(s.path, 'utf8'), { energy: 1 });
      const ne = spec.energy.length;
      const packed = new Float64Array(PER_FILE * ne);
      for (let c = 0; c < PER_FILE; c++) packed.set(spec.columns[c + 1]!, c * ne);
      const ref = await autobkBatch({ energy: spec.energy, mu: packed }, { rbkg: 1.1 }, run);
      for (let c = 0; c < PER_FILE; c++, item++) {
        const row = got[item]!;
        expect(row.name).toBe(spec.labels[c + 1]);
        expect(row.status).toBe(ref.statusOf(c));
        if (row.status === 'error') {
          expect(row.chi).toBeNull();
          expect(row.message).toBe(ref.errors.get(c));
          continue;
        }
        expect(row.e0).toBe(ref.e0[c]);
        expect(row.chisqr).toBe(ref.chisqr[c]);
        expect(row.chi).toEqual(ref.chi.subarray(c * ref.kWidth, c * ref.kWidth + ref.nk[c]!));
      }
    }
  });

  it('re-running a finished job does no work: every shard is skipped and says so', async () => {
    const logs: string[] = [];
    for (let i = 0; i < SHARDS; i++) expect((await runShard(manifestPath, i, { ...run, log: (l) => logs.push(l) })).outcome).toBe('skipped');
    expect(logs).toHaveLength(SHARDS);
    for (const l of logs) expect(l).toMatch(/^shard \d\/5: already done, skipped \(marker matches manifest [0-9a-f]{12}…, output checksum verified; 18 items/);
  });

  it('finds a corrupted or truncated shard output, and redoes it', async () => {
    const m = readManifest(manifestPath);
    const before = readFileSync(join(dir, 'merged.arrow'));
    const f2 = shardFiles(manifestPath, m, 2).output;
    const f3 = shardFiles(manifestPath, m, 3).output;
    const bytes = readFileSync(f2);
    bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0x40;
    writeFileSync(f2, bytes);
    writeFileSync(f3, readFileSync(f3).subarray(0, 1000));
    const st = await shardStatus(manifestPath);
    expect(st.counts).toEqual({ done: 3, missing: 0, failed: 0, corrupt: 2 });
    expect(st.shards[2]!.detail).toMatch(/output checksum [0-9a-f]{12}… differs from the marker's/);
    expect(st.shards[3]!.detail).toMatch(/output has 1000 bytes, the marker says \d+ \(truncated or rewritten\): redo/);
    expect(statusLines(st).at(-1)).toBe('to (re)run: 2-3 (e.g. sbatch --array=2-3 …)');
    await expect(mergeShards(manifestPath, join(dir, 'never.arrow'))).rejects.toThrow(/2 of 5 shards are not done \(2 corrupt, 3 corrupt\)/);
    for (const i of [2, 3]) expect((await runShard(manifestPath, i, quiet)).outcome).toBe('done');
    expect((await shardStatus(manifestPath)).counts.done).toBe(SHARDS);
    await mergeShards(manifestPath, join(dir, 'merged.arrow'), { force: true });
    expect(readFileSync(join(dir, 'merged.arrow')).equals(before)).toBe(true);
  });

  it('a killed shard leaves nothing that looks finished', async () => {
    const m = readManifest(manifestPath);
    const f = shardFiles(manifestPath, m, 1);
    // Killed while writing: only a temporary file (another host's, so run leaves it alone) and no marker.
    rmSync(f.marker);
    rmSync(f.output);
    writeFileSync(join(f.dir, `${f.tmpPrefix}elsewhere.123.tmp`), 'partial');
    let c = await checkShard(manifestPath, m, 1);
    expect(c.state).toBe('missing');
    expect(c.detail).toBe('not finished (1 temporary file: running, or killed)');
    // Killed between the output's rename and the marker: the output alone is not done either.
    writeFileSync(f.output, 'rows');
    c = await checkShard(manifestPath, m, 1);
    expect(c.state).toBe('missing');
    await expect(mergeShards(manifestPath, join(dir, 'never.arrow'))).rejects.toThrow(/1 of 5 shards are not done \(1 missing\)/);
    expect((await runShard(manifestPath, 1, quiet)).outcome).toBe('done');
    expect(readdirSync(f.dir).filter((n) => n.endsWith('.tmp'))).toEqual([`${f.tmpPrefix}elsewhere.123.tmp`]);
    expect((await checkShard(manifestPath, m, 1)).state).toBe('done');
  });

  it("'spectra' layout: one spectrum per file; a file that does not parse is that item's error row", async () => {
    const sub = join(dir, 'spectra');
    mkdirSync(sub);
    const spec = readSpectrum(readFileSync(series[0]!.path, 'utf8'), { energy: 1 });
    const files = [0, 1, 2].map((i) => join(sub, `s${i}.dat`));
    for (const [i, f] of files.entries()) writeFileSync(f, `# energy mu\n${Array.from(spec.energy, (e, r) => `${e} ${spec.columns[i + 1]![r]}`).join('\n')}\n`);
    writeFileSync(files[1]!, 'no numbers here\n');
    const mp = join(sub, 'job.json');
    const m = await planJob({ inputs: files, manifestPath: mp, options: { layout: 'spectra', mu: 'mu', fit: {} }, shards: 2 });
    expect(m.items).toBe(3);
    for (let i = 0; i < 2; i++) expect((await runShard(mp, i, { ...run, log: () => undefined })).outcome).toBe('done');
    const { rows } = await mergeShards(mp, join(sub, 'all.arrow'));
    expect(rows).toBe(3);
    const got = rowsOf(join(sub, 'all.arrow'));
    expect(got.map((r) => [r.item, r.name, r.status])).toEqual([[0, 's0.dat', 'converged'], [1, 's1.dat', 'error'], [2, 's2.dat', 'converged']]);
    expect(got[1]!.message).toMatch(/s1\.dat/);
    const ref = await autobkBatch([{ energy: spec.energy, mu: spec.columns[1]! }], {}, run);
    expect(got[0]!.chi).toEqual(ref.chi.subarray(0, ref.nk[0]!));
    await expect(planJob({ inputs: files, manifestPath: join(sub, 'bad.json'), options: { layout: 'series', mu: 'mu', fit: {} } })).rejects.toThrow(/mu = "mu" applies to the 'spectra' and 'hdf5' layouts/);
  });

  it("'hdf5' layout: a 3-D map (I0/It datasets) cut across shards, pixels in row-major order", async () => {
    const sub = join(dir, 'hdf5');
    mkdirSync(sub);
    const spec = readSpectrum(readFileSync(series[0]!.path, 'utf8'), { energy: 1 });
    const ne = spec.energy.length;
    const [ny, nx] = [3, 4];
    // [y][x][energy]: It = I0·exp(−μ), I0 = 1000 + 10·pixel.
    const i0 = new Float64Array(ny * nx * ne);
    const it = new Float64Array(ny * nx * ne);
    for (let p = 0; p < ny * nx; p++) {
      const mu = spec.columns[1 + (p % PER_FILE)]!;
      for (let e = 0; e < ne; e++) {
        i0[p * ne + e] = 1000 + 10 * p;
        it[p * ne + e] = (1000 + 10 * p) * Math.exp(-mu[e]!);
      }
    }
    await h5wasm.ready;
    const name = `shard-test-${process.pid}.h5`;
    const f = new h5wasm.File(name, 'w');
    f.create_group('entry');
    const g = f.get('entry') as h5wasm.Group;
    g.create_dataset({ name: 'energy', data: spec.energy });
    g.create_dataset({ name: 'i0', data: i0, shape: [ny, nx, ne] });
    g.create_dataset({ name: 'it', data: it, shape: [ny, nx, ne] });
    f.close();
    const file = join(sub, 'map.h5');
    writeFileSync(file, h5wasm.FS!.readFile(name) as Uint8Array);
    h5wasm.FS!.unlink(name);

    const mp = join(sub, 'job.json');
    const options = { layout: 'hdf5', energy: '/entry/energy', mu: 'ln(i0/it)', signals: { i0: '/entry/i0', it: '/entry/it' }, fit: {} };
    const m = await planJob({ inputs: [file], manifestPath: mp, options, shards: 5 });
    expect(m.items).toBe(ny * nx);
    for (let i = 0; i < 5; i++) expect((await runShard(mp, i, quiet)).outcome).toBe('done');
    await mergeShards(mp, join(sub, 'all.arrow'));
    const got = rowsOf(join(sub, 'all.arrow'));
    expect(got.map((r) => r.name)).toEqual(Array.from({ length: ny * nx }, (_, p) => `[${Math.floor(p / nx)}, ${p % nx}]`));
    const h = await readHdf5(readFileSync(file), { energy: '/entry/energy', mu: 'ln(i0/it)', signals: { i0: '/entry/i0', it: '/entry/it' } });
    const ref = await autobkBatch({ energy: h.energy, mu: h.mu }, {}, run);
    for (let p = 0; p < ny * nx; p++) expect(got[p]!.chi).toEqual(ref.chi.subarray(p * ref.kWidth, p * ref.kWidth + ref.nk[p]!));
    await expect(planJob({ inputs: [file], manifestPath: join(sub, 'bad.json'), options: { layout: 'hdf5', energy: '/entry/energy', fit: {} } })).rejects.toThrow(/'hdf5' inputs need mu/);
  });

  it('fails a shard only when its input cannot be read; an edited manifest is refused', async () => {
    // Per-item failures (the dead channels) never failed a shard above. A changed input does.
    const sub = join(dir, 'changed');
    mkdirSync(sub);
    const input = join(sub, 'a.dat');
    copyFileSync(series[0]!.path, input);
    const mp = join(sub, 'job.json');
    await planJob({ inputs: [input], manifestPath: mp, options: { layout: 'series', fit: {} }, shards: 3 });
    appendFileSync(input, '\n');
    const logs: string[] = [];
    const r = await runShard(mp, 0, { ...run, log: (l) => logs.push(l) });
    expect(r.outcome).toBe('failed');
    expect(r.error).toMatch(/input a\.dat has \d+ bytes, the manifest \d+: it changed after planning/);
    const st = await shardStatus(mp);
    expect(st.counts).toEqual({ done: 0, missing: 2, failed: 1, corrupt: 0 });
    expect(st.shards[0]!.detail).toMatch(/changed after planning/);
    rmSync(input);
    expect((await runShard(mp, 1, { ...run, log: () => undefined })).error).toMatch(/input a\.dat cannot be read: ENOENT/);

    const text = readFileSync(mp, 'utf8');
    writeFileSync(mp, text.replace('"shardCount": 3', '"shardCount": 4'));
    expect(() => readManifest(mp)).toThrow(/hash [0-9a-f]+ does not match its contents .*: it was edited after planning/);
  });
});
