/**
 * The columnar results of autobkBatch: planes for the whole batch, records as views, chunks
 * handed to onChunk exactly once and in order, series fed as async row blocks, retain: false,
 * bkg formed on demand on the GPU series path, and the CPU fallback of a device whose
 * double-float self-test fails.
 */
import { describe, expect, it } from 'vitest';
import { GpuContext } from '../../src/gpu/context.js';
import { df64SelfTest, df64Verdict } from '../../src/gpu/df64SelfTest.js';
import { AUTOBK_STATUS, autobk, autobkBatch, preEdge, type AutobkBatchResults } from '../../src/xafs/index.js';
import { gpuLabel, testGpu } from '../util/gpu.js';
import { gaussian, mulberry32 } from '../util/random.js';
import { loadReference, loadSpectrum, maxAbs, maxAbsDiff } from './fixtures.js';

const ctx = await testGpu();
const ru = loadSpectrum(loadReference('ru_qas'));
const ne = ru.energy.length;
const pre = preEdge(ru.energy, ru.mu);

/** n noisy Ru quick scans (σ = 1e-3 of the edge step), packed. */
function ruRows(n: number, seed = 1): Float64Array {
  const mu = new Float64Array(n * ne);
  for (let s = 0; s < n; s++) {
    const g = gaussian(mulberry32(seed + s));
    for (let i = 0; i < ne; i++) mu[s * ne + i] = ru.mu[i]! + 1e-3 * pre.edgeStep * g();
  }
  return mu;
}

/** max |a − b| over two planes whose padding is NaN: equal NaNs count 0, a NaN against a number counts ∞. */
function planeDiff(a: Float64Array, b: Float64Array): number {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]!) && Number.isNaN(b[i]!)) continue;
    const e = Math.abs(a[i]! - b[i]!);
    d = Number.isNaN(e) ? Infinity : Math.max(d, e);
  }
  return d;
}

/** max |x| over the numbers of a plane (NaN padding skipped). */
function planeMax(a: Float64Array): number {
  let m = 0;
  for (const v of a) if (Math.abs(v) > m) m = Math.abs(v);
  return m;
}

/** The rows as an async stream of blocks of the given sizes. */
async function* blocks(mu: Float64Array, sizes: number[]): AsyncGenerator<Float64Array> {
  let at = 0;
  for (const n of sizes) {
    yield mu.subarray(at * ne, (at + n) * ne);
    at += n;
  }
}

/** Checks that chunks cover 0..n once, in order, and returns the concatenated χ rows of the chunks. */
function collect(n: number): { onChunk: (c: AutobkBatchResults) => void; starts: number[]; chi: Float64Array[]; seen: Set<number> } {
  const starts: number[] = [];
  const chi: Float64Array[] = [];
  const seen = new Set<number>();
  return {
    starts,
    chi,
    seen,
    onChunk: (c) => {
      starts.push(c.start);
      for (let i = 0; i < c.count; i++) {
        const r = c.at(i)!;
        expect(seen.has(r.index)).toBe(false);
        seen.add(r.index);
        if (r.status !== 'error') chi.push(Float64Array.from(r.chi));
      }
      expect(c.start + c.count).toBeLessThanOrEqual(n);
    },
  };
}

describe('autobkBatch results are columnar', () => {
  it('planes for the whole batch; records are views into them; status codes and counts', async () => {
    const mu = ruRows(40);
    mu.fill(NaN, 7 * ne, 8 * ne);
    const res = await autobkBatch({ energy: ru.energy, mu }, {}, { device: 'cpu', workers: 2 });
    expect(res.count).toBe(40);
    expect(res.status).toBeInstanceOf(Uint8Array);
    expect(res.chi).toBeInstanceOf(Float64Array);
    expect(res.chi.length).toBe(40 * res.kWidth);
    expect(res.bkg.length).toBe(40 * ne);
    expect(AUTOBK_STATUS[res.status[7]!]).toBe('error');
    expect(res.errors.get(7)).toMatch(/no row has a finite energy and mu/);
    // The workers wrote the shared planes in place and padded their own rows: a failed row is
    // NaN throughout, a fitted one past its nk points.
    expect(res.chi.subarray(7 * res.kWidth, 8 * res.kWidth).every(Number.isNaN)).toBe(true);
    expect(Number.isNaN(res.e0[7]!)).toBe(true);
    expect(res.chi.subarray(3 * res.kWidth + res.nk[3]!, 4 * res.kWidth).every(Number.isNaN)).toBe(true);
    expect(res.chi.subarray(3 * res.kWidth, 3 * res.kWidth + res.nk[3]!).some(Number.isNaN)).toBe(false);
    expect(res.countStatus('error')).toBe(1);
    const r = res.at(3)!;
    if (r.status === 'error') throw new Error(r.error);
    // Views, not copies: the record's χ is the plane's row.
    expect(r.chi.buffer).toBe(res.chi.buffer);
    expect(r.chi.byteOffset).toBe(3 * res.kWidth * 8);
    expect(r.details.coefs.buffer).toBe(res.coefs.buffer);
    expect(r.bkg.buffer).toBe(res.bkg.buffer);
    expect(r.k.buffer).toBe(res.k.buffer);
    expect(res.at(-1)!.index).toBe(39);
    expect(res.at(40)).toBeUndefined();
    expect([...res].map((x) => x.index)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    // The same numbers as autobk.
    const a = autobk(ru.energy, mu.subarray(3 * ne, 4 * ne));
    expect(maxAbsDiff(r.chi, a.chi)).toBe(0);
    expect(res.e0[3]).toBe(a.e0);
    expect(res.chisqr[3]).toBe(a.details.chisqr);
    // energyOf: the record's grid without making the record (a series: the series grid itself).
    expect(res.energyOf(3)).toBe(r.energy);
    const list = await autobkBatch([{ energy: ru.energy, mu: mu.subarray(0, ne) }, { energy: ru.energy.subarray(5), mu: mu.subarray(ne + 5, 2 * ne) }], {}, { device: 'cpu', workers: 0 });
    for (let i = 0; i < 2; i++) {
      const rec = list.at(i)!;
      if (rec.status === 'error') throw new Error(rec.error);
      expect(Array.from(list.energyOf(i))).toEqual(Array.from(rec.energy));
    }
    expect(list.energyOf(1).length).toBe(ne - 5);
  });

  it('rejects an onChunk that is not a function, naming it', async () => {
    await expect(autobkBatch({ energy: ru.energy, mu: ruRows(2) }, {}, { device: 'cpu', onChunk: 42 as never })).rejects.toThrow('onChunk must be a function, got 42');
  });

  it('CPU: onChunk gets every spectrum exactly once, in order; retain: false keeps the scalars only', async () => {
    const n = 300;
    const mu = ruRows(n, 50);
    const full = await autobkBatch({ energy: ru.energy, mu }, {}, { device: 'cpu', workers: 2 });
    const c = collect(n);
    const res = await autobkBatch({ energy: ru.energy, mu }, {}, { device: 'cpu', workers: 2, onChunk: c.onChunk });
    expect(c.seen.size).toBe(n);
    expect(c.starts).toEqual([...c.starts].sort((x, y) => x - y));
    expect(c.starts.length).toBeGreaterThan(2);
    c.chi.forEach((chi, i) => expect(maxAbsDiff(chi, full.at(i)!.status === 'error' ? chi : (full.at(i) as { chi: Float64Array }).chi)).toBe(0));
    expect(res.kWidth).toBe(0);
    expect(Array.from(res.chisqr)).toEqual(Array.from(full.chisqr));
    expect(Array.from(res.status)).toEqual(Array.from(full.status));
  });

  it('CPU: a series streamed as row blocks of any size equals the packed series', async () => {
    const n = 150;
    const mu = ruRows(n, 70);
    const packed = await autobkBatch({ energy: ru.energy, mu, e0: pre.e0 }, {}, { device: 'cpu', workers: 0 });
    const c = collect(n);
    const streamed = await autobkBatch({ energy: ru.energy, mu: blocks(mu, [1, 60, 7, 82]), e0: pre.e0 }, {}, { device: 'cpu', workers: 2, onChunk: c.onChunk, retain: true });
    expect(streamed.count).toBe(n);
    expect(c.seen.size).toBe(n);
    expect(planeDiff(streamed.chi, packed.chi)).toBe(0);
    expect(planeDiff(streamed.bkg, packed.bkg)).toBe(0);
    await expect(autobkBatch({ energy: ru.energy, mu: blocks(mu, [2]), count: 3 }, {}, { device: 'cpu' })).rejects.toThrow('the series stream ended after 2 spectra, its count = 3');
    await expect(autobkBatch({ energy: ru.energy, mu: (async function* () { yield new Float64Array(ne + 1); })() }, {}, { device: 'cpu' })).rejects.toThrow(`series block 0 has ${ne + 1} values, not a multiple of energy.length = ${ne}`);
  });
});

describe.skipIf(!ctx)(`autobkBatch columnar results on the GPU ${gpuLabel(ctx)}`, () => {
  it('series path: onChunk once per spectrum in order over several chunks in flight; bkg on demand equals the CPU', async () => {
    const n = 40;
    const mu = ruRows(n, 90);
    mu[5 * ne + 20] = NaN;
    const cpu = await autobkBatch({ energy: ru.energy, mu, e0: pre.e0, edgeStep: pre.edgeStep }, {}, { device: 'cpu', workers: 0 });
    const c = collect(n);
    let timeline: number[][] = [];
    let inFlight = 0;
    const gpu = await autobkBatch({ energy: ru.energy, mu, e0: pre.e0, edgeStep: pre.edgeStep }, {}, {
      device: 'gpu', gpu: ctx!, maxChunk: 8, onChunk: c.onChunk, retain: true,
      onTimings: (t) => {
        timeline = t.timeline!;
        inFlight = t.maxChunksInFlight!;
      },
    });
    expect(c.seen.size).toBe(n);
    expect(c.starts).toEqual([0, 8, 16, 24, 32]);
    expect(timeline).toHaveLength(5);
    expect(inFlight).toBeGreaterThanOrEqual(2);
    for (let i = 0; i < n; i++) {
      const g = gpu.at(i)!;
      const r = cpu.at(i)!;
      if (g.status === 'error' || r.status === 'error') throw new Error(`spectrum ${i} failed`);
      expect(maxAbsDiff(g.chi, r.chi) / maxAbs(r.chi), `χ ${i}`).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(g.bkg, r.bkg) / maxAbs(r.bkg), `bkg ${i}`).toBeLessThanOrEqual(1e-4);
      expect(g.energy.length).toBe(r.energy.length);
    }
    // The spectrum with a NaN was fitted by the float64 CPU code on its cleaned grid: exactly autobk's.
    const own = gpu.at(5)!;
    if (own.status === 'error') throw new Error(own.error);
    expect(own.energy.length).toBe(ne - 1);
    expect(maxAbsDiff(own.chi, (cpu.at(5) as { chi: Float64Array }).chi)).toBe(0);
    // The whole bkg plane, formed on first access.
    expect(planeDiff(gpu.bkg, cpu.bkg) / planeMax(cpu.bkg)).toBeLessThanOrEqual(1e-4);
  });

  it('series path: a stream of row blocks (e0 only: the edge step on the GPU) equals the packed series', async () => {
    const n = 30;
    const mu = ruRows(n, 120);
    const packed = await autobkBatch({ energy: ru.energy, mu, e0: pre.e0 }, {}, { device: 'gpu', gpu: ctx! });
    const c = collect(n);
    const streamed = await autobkBatch({ energy: ru.energy, mu: blocks(mu, [3, 20, 7]), e0: pre.e0 }, {}, { device: 'gpu', gpu: ctx!, maxChunk: 8, onChunk: c.onChunk, retain: true });
    expect(c.seen.size).toBe(n);
    expect(planeDiff(streamed.chi, packed.chi)).toBe(0);
    expect(planeDiff(streamed.edgeStep, packed.edgeStep)).toBe(0);
    expect(planeDiff(streamed.bkg, packed.bkg)).toBe(0);
    for (let i = 0; i < n; i++) {
      const step = preEdge(ru.energy, mu.subarray(i * ne, (i + 1) * ne), { e0: pre.e0 }).edgeStep;
      expect(Math.abs(streamed.edgeStep[i]! - step) / step).toBeLessThanOrEqual(1e-11);
    }
  });

  it('series path streaming (retain: false): chunks are views of the mapped read-back and of reused host planes, host-fitted rows included', async () => {
    const n = 40;
    const mu = ruRows(n, 300);
    // Row 9 (second chunk) is fitted by the host on a cleaned grid; its planes come back for the fourth chunk.
    mu[9 * ne + 30] = NaN;
    const ref = await autobkBatch({ energy: ru.energy, mu, e0: pre.e0, edgeStep: pre.edgeStep }, {}, { device: 'gpu', gpu: ctx!, maxChunk: 8 });
    const rows: { index: number; chi: Float64Array; nk: number; ne: number; e0: number; knots: Float64Array }[] = [];
    const buffers = new Set<ArrayBufferLike>();
    const res = await autobkBatch({ energy: ru.energy, mu, e0: pre.e0, edgeStep: pre.edgeStep }, {}, {
      device: 'gpu', gpu: ctx!, maxChunk: 8,
      onChunk: (c) => {
        buffers.add(c.columns.e0.buffer);
        for (const r of c) {
          if (r.status === 'error') throw new Error(r.error);
          rows.push({ index: r.index, chi: r.chi.slice(), nk: r.k.length, ne: r.energy.length, e0: r.e0, knots: r.details.knots.slice() });
        }
      },
    });
    // Two slots in flight, five chunks: the host-made planes are the slots' own, reused.
    expect(buffers.size).toBe(2);
    expect(rows.map((r) => r.index)).toEqual(Array.from({ length: n }, (_, i) => i));
    for (const r of rows) {
      const want = ref.at(r.index)!;
      if (want.status === 'error') throw new Error(want.error);
      expect(planeDiff(r.chi, want.chi), `χ ${r.index}`).toBe(0);
      expect(r.nk).toBe(want.k.length);
      expect(r.ne).toBe(want.energy.length);
      expect(r.e0).toBe(want.e0);
      expect(planeDiff(r.knots, want.details.knots)).toBe(0);
    }
    expect(rows[9]!.ne).toBe(ne - 1);
    expect(rows[25]!.ne).toBe(ne);
    expect(res.kWidth).toBe(0);
    expect(Array.from(res.chisqr)).toEqual(Array.from(ref.chisqr));
  });

  it('a device whose double-float self-test fails runs the batch on the CPU with one notice, as device: cpu', async () => {
    const own = await GpuContext.create();
    try {
      const report = await df64SelfTest(own, { fault: true });
      expect(report.ok).toBe(false);
      expect((await df64Verdict(own)).ok).toBe(false);
      const mu = ruRows(6, 200);
      const lines: string[] = [];
      const res = await autobkBatch({ energy: ru.energy, mu, e0: pre.e0 }, {}, { device: 'gpu', gpu: own, notice: (l) => lines.push(l) });
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`double-float self-test failed on ${own.describe().replace(/[()]/g, '.')}.*runs on the CPU`));
      expect(res.device).toBe('cpu');
      const cpu = await autobkBatch({ energy: ru.energy, mu, e0: pre.e0 }, {}, { device: 'cpu' });
      expect(planeDiff(res.chi, cpu.chi)).toBe(0);
      expect(Array.from(res.chisqr)).toEqual(Array.from(cpu.chisqr));
    } finally {
      own.destroy();
    }
  });
});
