/**
 * autobkBatch: container validation, the worker_threads CPU back end against autobk (the same
 * float64 code, so results must be identical), per-spectrum errors, progress, abort and the
 * 'auto' fallback without an adapter. (GPU-vs-CPU agreement: autobkBatchGpu.test.ts.)
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { autobkBatchCommand } from '../../src/cli/autobkBatch.js';
import { GpuUnavailableError } from '../../src/gpu/context.js';
import {
  autobk,
  autobkBatch,
  chirXftfOptions,
  xftf,
  type AutobkBatchResult,
  type AutobkBatchSuccess,
  type BatchProgress,
  type BatchSpectrum,
  type BatchTimings,
} from '../../src/xafs/index.js';
import { gpuLabel, testGpu } from '../util/gpu.js';
import { gaussian, mulberry32 } from '../util/random.js';
import { fixtureDir, loadReference, loadSpectrum, maxAbsDiff, referenceNames } from './fixtures.js';

/** The records of a batch (views into its columns), for assertions written per spectrum. */
async function batchRecords(...args: Parameters<typeof autobkBatch>): Promise<AutobkBatchResult[]> {
  return (await autobkBatch(...args)).toRecords();
}

const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
const ctx = await testGpu();

/** Every distinct fixture spectrum (the reference variants share a data file and column spec). */
const fixtures = referenceNames
  .filter((name) => !name.includes('__'))
  .map((name) => {
    const ref = loadReference(name);
    return { name, ref, ...loadSpectrum(ref) };
  });

const ru = fixtures.find((f) => f.name === 'ru_qas')!;

/** nSpectra copies of the Ru quick-scan spectrum with Gaussian noise (σ = 1e-3 of the edge step), one seed each. */
function ruSeries(nSpectra: number, firstSeed = 1): Float64Array {
  const ne = ru.energy.length;
  const mu = new Float64Array(nSpectra * ne);
  const sigma = 1e-3 * ru.ref.edge_step;
  for (let s = 0; s < nSpectra; s++) {
    const g = gaussian(mulberry32(firstSeed + s));
    for (let i = 0; i < ne; i++) mu[s * ne + i] = ru.mu[i]! + sigma * g();
  }
  return mu;
}

function success(r: AutobkBatchResult | undefined): AutobkBatchSuccess {
  if (r === undefined || r.status === 'error') throw new Error(`expected a fitted spectrum, got ${r === undefined ? 'nothing' : r.error}`);
  return r;
}

/** The batch result equals autobk's on the same spectrum, bit for bit. */
function expectSameAsAutobk(r: AutobkBatchResult | undefined, energy: ArrayLike<number>, mu: ArrayLike<number>, opts: Parameters<typeof autobk>[2] = {}): void {
  const b = success(r);
  const a = autobk(energy, mu, opts);
  expect(b.e0).toBe(a.e0);
  expect(b.edgeStep).toBe(a.edgeStep);
  expect(maxAbsDiff(b.energy, a.energy)).toBe(0);
  expect(b.energy.length).toBe(a.energy.length);
  expect(b.bkg.length).toBe(a.bkg.length);
  expect(maxAbsDiff(b.bkg, a.bkg)).toBe(0);
  expect(b.k.length).toBe(a.k.length);
  expect(maxAbsDiff(b.k, a.k)).toBe(0);
  expect(b.chi.length).toBe(a.chi.length);
  expect(maxAbsDiff(b.chi, a.chi)).toBe(0);
  expect(maxAbsDiff(b.details.coefs, a.details.coefs)).toBe(0);
  expect(maxAbsDiff(b.details.knots, a.details.knots)).toBe(0);
  expect(maxAbsDiff(b.details.initCoefs, a.details.initCoefs)).toBe(0);
  expect(b.details.chisqr).toBe(a.details.chisqr);
  expect(Object.is(b.details.redchi, a.details.redchi)).toBe(true);
  expect(b.details.nfev).toBe(a.details.nfev);
  expect(b.details.nspl).toBe(a.details.nspl);
  expect(b.details.irbkg).toBe(a.details.irbkg);
  expect(b.details.kmax).toBe(a.details.kmax);
  expect(b.details.warnings).toEqual(a.details.warnings);
  expect(b.status).toBe(a.details.lmInfo === 5 ? 'max-iterations' : 'converged');
}

describe('autobkBatch: the container is checked before anything runs', () => {
  const ne = ru.energy.length;
  it.each([
    ['a number', 42, /spectra must be an array of \{energy, mu\} or a packed series .* got 42/],
    ['null', null, /spectra must be .* got null/],
    ['a typed array', new Float64Array(4), /spectra must be .* got a Float64Array of 4/],
    ['a list item that is not an object', [{ energy: ru.energy, mu: ru.mu }, 7], /spectra\[1\] must be an object \{energy, mu, e0\?, edgeStep\?\}, got 7/],
    ['a list item without mu', [{ energy: ru.energy }], /spectra\[0\]\.mu must be an array or typed array, got a undefined/],
    ['a list item with a string e0', [{ energy: ru.energy, mu: ru.mu, e0: '22118' }], /spectra\[0\]\.e0 must be a number, got a string/],
    ['packed mu not a typed array', { energy: ru.energy, mu: Array.from(ru.mu) }, /packed series mu must be a Float64Array or Float32Array .* got an array of 645/],
    ['packed mu not a multiple of the grid', { energy: ru.energy, mu: new Float64Array(2 * ne + 3) }, new RegExp(`packed series mu has ${2 * ne + 3} values, not a multiple of energy.length = ${ne}`)],
    ['an empty grid', { energy: [], mu: new Float64Array(0) }, /packed series energy is empty/],
    ['e0 per spectrum of the wrong length', { energy: ru.energy, mu: new Float64Array(3 * ne), e0: new Float64Array(2) }, /packed series e0 has 2 values for 3 spectra/],
    ['edgeStep per spectrum of the wrong length', { energy: ru.energy, mu: new Float64Array(3 * ne), edgeStep: [1, 2, 3, 4] }, /packed series edgeStep has 4 values for 3 spectra/],
    ['a string edge step', { energy: ru.energy, mu: new Float64Array(ne), edgeStep: 'one' }, /packed series edgeStep must be a number or an array .* got a string/],
  ])('rejects %s', async (_, input, message) => {
    await expect(autobkBatch(input as never, {}, { device: 'cpu', workers: 0 })).rejects.toThrow(message);
  });

  it('rejects a bad device, worker count or options', async () => {
    const input = [{ energy: ru.energy, mu: ru.mu }];
    await expect(autobkBatch(input, {}, { device: 'tpu' as never })).rejects.toThrow("device = 'tpu' must be 'gpu', 'cpu' or 'auto'");
    await expect(autobkBatch(input, {}, { device: 'cpu', workers: -1 })).rejects.toThrow('workers = -1 must be an integer ≥ 0');
    await expect(autobkBatch(input, null as never, { device: 'cpu' })).rejects.toThrow('options must be an object, got null');
    await expect(autobkBatch(input, { e0: 22118 } as never, { device: 'cpu' })).rejects.toThrow("options.e0 = 22118: e0 belongs to the input (per spectrum, or the packed series' e0)");
  });

  it('returns no results for an empty batch, with progress 1 once', async () => {
    const progress: BatchProgress[] = [];
    expect(await batchRecords([], {}, { device: 'cpu', onProgress: (p) => progress.push(p) })).toEqual([]);
    expect(progress).toEqual([{ done: 0, total: 0, fraction: 1 }]);
  });
});

describe('autobkBatch on the CPU equals autobk on every spectrum', () => {
  it('a list of all XAFS fixtures (different grids), pre_edge inside, on 2 workers', async () => {
    const spectra: BatchSpectrum[] = fixtures.map((f) => ({ energy: f.energy, mu: f.mu }));
    const results = await batchRecords(spectra, {}, { device: 'cpu', workers: 2 });
    expect(results).toHaveLength(fixtures.length);
    results.forEach((r, i) => {
      expect(r.index).toBe(i);
      expect(r.device).toBe('cpu');
      expectSameAsAutobk(r, fixtures[i]!.energy, fixtures[i]!.mu);
    });
  });

  it('the same list with e0 and edge step given per spectrum and shared options, as plain arrays', async () => {
    const options = { rbkg: 1.1, kweight: 2 };
    const spectra = fixtures.map((f) => ({ energy: Array.from(f.energy), mu: Array.from(f.mu), e0: f.ref.ek0, edgeStep: f.ref.edge_step }));
    const results = await batchRecords(spectra, options, { device: 'cpu', workers: 2 });
    results.forEach((r, i) => {
      expectSameAsAutobk(r, fixtures[i]!.energy, fixtures[i]!.mu, { ...options, e0: fixtures[i]!.ref.ek0, edgeStep: fixtures[i]!.ref.edge_step });
      // A list's spectra each keep their own cleaned grid.
      expect(success(r).energy).not.toBe(fixtures[i]!.energy);
    });
  });

  it('a packed Ru series of 200 noisy spectra, pre_edge inside, on 2 workers and in this thread', async () => {
    const ne = ru.energy.length;
    const mu = ruSeries(200);
    const series = { energy: ru.energy, mu };
    const onWorkers = await batchRecords(series, {}, { device: 'cpu', workers: 2 });
    const inThread = await batchRecords(series, {}, { device: 'cpu', workers: 0 });
    expect(onWorkers).toHaveLength(200);
    for (let s = 0; s < 200; s++) {
      expectSameAsAutobk(onWorkers[s], ru.energy, mu.subarray(s * ne, (s + 1) * ne));
      const a = success(onWorkers[s]);
      const b = success(inThread[s]);
      expect(maxAbsDiff(a.chi, b.chi)).toBe(0);
      expect(a.details.chisqr).toBe(b.details.chisqr);
    }
    // The series grid and the k grid are shared, not copied per spectrum.
    expect(success(onWorkers[7]).energy).toBe(success(onWorkers[150]).energy);
    expect(success(onWorkers[7]).k.buffer).toBe(success(onWorkers[150]).k.buffer);
  });

  it('a packed Float32 series with one e0 and per-spectrum edge steps', async () => {
    const ne = ru.energy.length;
    const mu = Float32Array.from(ruSeries(40, 1000));
    const edgeStep = Float64Array.from({ length: 40 }, (_, s) => ru.ref.edge_step * (1 + 0.01 * s));
    const options = { rbkg: 1.2, nclamp: 4, clampHi: 5 };
    const results = await batchRecords({ energy: ru.energy, mu, e0: ru.ref.ek0, edgeStep }, options, { device: 'cpu', workers: 2 });
    for (let s = 0; s < 40; s++) {
      expectSameAsAutobk(results[s], ru.energy, mu.subarray(s * ne, (s + 1) * ne), { ...options, e0: ru.ref.ek0, edgeStep: edgeStep[s]! });
    }
  });

  it('χ(R) of every spectrum is xftf of its χ with the fit window', async () => {
    const spectra = fixtures.slice(0, 3).map((f) => ({ energy: f.energy, mu: f.mu }));
    const options = { kweight: 2, dk: 1, win: 'kaiser' };
    const results = await batchRecords(spectra, options, { device: 'cpu', workers: 0, chir: { rmax: 6 } });
    for (const r of results) {
      const s = success(r);
      const ft = xftf(s.k, s.chi, chirXftfOptions(options, { rmax: 6 }, s.details.kmax));
      expect(s.chir).toBeDefined();
      expect(maxAbsDiff(s.chir!.r, ft.r)).toBe(0);
      expect(maxAbsDiff(s.chir!.re, ft.chirRe)).toBe(0);
      expect(maxAbsDiff(s.chir!.im, ft.chirIm)).toBe(0);
      expect(maxAbsDiff(s.chir!.mag, ft.chirMag)).toBe(0);
      expect(s.chir!.r[s.chir!.r.length - 1]).toBeLessThanOrEqual(6.01);
    }
  });
});

describe('autobkBatch on the CPU: spectra of a packed series share one plan per e0', () => {
  /** autobk's error message for one spectrum, or null when it fits. */
  const autobkError = (energy: ArrayLike<number>, mu: ArrayLike<number>, opts: Parameters<typeof autobk>[2]): string | null => {
    try {
      autobk(energy, mu, opts);
      return null;
    } catch (e) {
      return (e as Error).message;
    }
  };

  it('noisy spectra repeat a few e0 values; every spectrum still equals autobk, with plan-changing options', async () => {
    const ne = ru.energy.length;
    const mu = ruSeries(120, 500);
    // kmax beyond the data (a warning of the plan), a k-weight, a knot count and clamps the plan depends on.
    const options = { kweight: 2, rbkg: 1.1, nknots: 12, kmax: 30, nclamp: 2, clampLo: 1 };
    for (const workers of [0, 2]) {
      const results = await batchRecords({ energy: ru.energy, mu }, options, { device: 'cpu', workers });
      const e0s = new Set(results.map((r) => success(r).e0));
      // The sharing is exercised: far fewer plans than spectra.
      expect(e0s.size).toBeLessThan(40);
      for (let s = 0; s < 120; s++) {
        const row = mu.subarray(s * ne, (s + 1) * ne);
        expectSameAsAutobk(results[s], ru.energy, row, options);
        expect(success(results[s]).details.warnings).toEqual([expect.stringMatching(/^kmax = 30 is beyond the data; clipped to /)]);
      }
      // A distinct warning list is stored once and shared by the records that have it.
      expect(success(results[0]).details.warnings).toBe(success(results[1]).details.warnings);
    }
  });

  it('one e0 for the whole series with a standard χ: one plan, every spectrum equals autobk', async () => {
    const ne = ru.energy.length;
    const mu = ruSeries(50, 900);
    const ref = autobk(ru.energy, ru.mu, { e0: ru.ref.ek0 });
    const options = { kStd: ref.k, chiStd: ref.chi.map((v) => 0.5 * v) };
    for (const workers of [0, 2]) {
      const results = await batchRecords({ energy: ru.energy, mu, e0: ru.ref.ek0 }, options, { device: 'cpu', workers });
      for (let s = 0; s < 50; s++) expectSameAsAutobk(results[s], ru.energy, mu.subarray(s * ne, (s + 1) * ne), { ...options, e0: ru.ref.ek0 });
    }
  });

  it('more distinct e0 values than plans kept: evicted and kept plans both give autobk\'s results', async () => {
    const ne = ru.energy.length;
    const n = 150;
    const mu = ruSeries(n, 300);
    // 75 e0 values, each used twice, 75 spectra apart: more than a worker keeps.
    const e0 = Float64Array.from({ length: n }, (_, s) => ru.ref.ek0 - 3 + 0.08 * (s % 75));
    const results = await batchRecords({ energy: ru.energy, mu, e0, edgeStep: ru.ref.edge_step }, {}, { device: 'cpu', workers: 0 });
    for (let s = 0; s < n; s++) {
      expectSameAsAutobk(results[s], ru.energy, mu.subarray(s * ne, (s + 1) * ne), { e0: e0[s]!, edgeStep: ru.ref.edge_step });
    }
  });

  it('rows that cleaning changes (a NaN, an infinite value) are fitted on their own cleaned grid between rows that share plans', async () => {
    const ne = ru.energy.length;
    const mu = ruSeries(30, 40);
    mu[3 * ne + 200] = NaN;
    mu[17 * ne + 5] = Infinity;
    for (const workers of [0, 2]) {
      const results = await batchRecords({ energy: ru.energy, mu }, {}, { device: 'cpu', workers });
      for (let s = 0; s < 30; s++) {
        const row = mu.subarray(s * ne, (s + 1) * ne);
        expectSameAsAutobk(results[s], ru.energy, row);
        const r = success(results[s]);
        if (s === 3 || s === 17) {
          expect(r.energy.length).toBe(ne - 1);
        } else {
          expect(r.energy).toBe(success(results[0]).energy);
        }
      }
    }
  });

  it('a grid with repeated energies is separated for every spectrum as autobk does', async () => {
    const ne = ru.energy.length;
    const energy = Float64Array.from(ru.energy);
    energy[301] = energy[300]!;
    const mu = ruSeries(12, 7);
    for (const workers of [0, 2]) {
      const results = await batchRecords({ energy, mu }, {}, { device: 'cpu', workers });
      for (let s = 0; s < 12; s++) {
        expectSameAsAutobk(results[s], energy, mu.subarray(s * ne, (s + 1) * ne));
        expect(success(results[s]).energy).not.toBe(energy);
        expect(success(results[s]).energy[301]).toBe(energy[300]! + 0.0005);
      }
    }
  });

  it('an option no spectrum can use is reported after each row\'s own cleaning error, as autobk orders them', async () => {
    const ne = ru.energy.length;
    const mu = ruSeries(3, 11);
    mu.fill(NaN, ne, 2 * ne);
    const options = { kstep: -1 };
    for (const workers of [0, 2]) {
      const results = await batchRecords({ energy: ru.energy, mu }, options, { device: 'cpu', workers });
      const errors = results.map((r) => (r.status === 'error' ? r.error : null));
      expect(errors).toEqual([0, 1, 2].map((s) => autobkError(ru.energy, mu.subarray(s * ne, (s + 1) * ne), options)));
      expect(errors[1]).toBe(`autobk: no row has a finite energy and mu (${ne} rows)`);
    }
  });
});

describe('autobkBatch: bad spectra get their own error results', () => {
  it('all-NaN, 5 points, e0 outside the data and unequal lengths, among good spectra', async () => {
    const good = fixtures.slice(0, 2);
    const spectra: BatchSpectrum[] = [
      { energy: good[0]!.energy, mu: good[0]!.mu },
      { energy: ru.energy, mu: new Float64Array(ru.energy.length).fill(NaN) },
      { energy: ru.energy.subarray(0, 5), mu: ru.mu.subarray(0, 5) },
      { energy: ru.energy, mu: ru.mu, e0: 30000 },
      { energy: ru.energy, mu: ru.mu.subarray(0, 600) },
      { energy: good[1]!.energy, mu: good[1]!.mu },
    ];
    for (const workers of [0, 2]) {
      const results = await batchRecords(spectra, {}, { device: 'cpu', workers });
      expect(results.map((r) => r.status)).toEqual(['converged', 'error', 'error', 'error', 'error', 'converged']);
      const errors = results.map((r) => (r.status === 'error' ? r.error : ''));
      expect(errors[1]).toBe('autobk: no row has a finite energy and mu (645 rows)');
      expect(errors[2]).toMatch(/at least 10 finite points, got 5/);
      expect(errors[3]).toMatch(/e0 = 30000 is outside the energy range \[21.*, 2.*\]/);
      expect(errors[4]).toMatch(/energy has 645 points but mu has 600/);
      results.forEach((r, i) => expect(r.index).toBe(i));
      expectSameAsAutobk(results[0], good[0]!.energy, good[0]!.mu);
      expectSameAsAutobk(results[5], good[1]!.energy, good[1]!.mu);
    }
  });

  it('an option no spectrum can use fails every spectrum, naming it', async () => {
    const results = await batchRecords({ energy: ru.energy, mu: ruSeries(3) }, { kstep: -1 }, { device: 'cpu', workers: 0 });
    expect(results.map((r) => (r.status === 'error' ? r.error : r.status))).toEqual(Array(3).fill('autobk: kstep = -1 must be a number in [0.001, 1] Å⁻¹'));
  });
});

describe('autobkBatch: progress, timings, abort and the device choice', () => {
  it('onProgress rises to fraction 1 exactly once, at the end; onTimings once', async () => {
    const progress: BatchProgress[] = [];
    const timings: BatchTimings[] = [];
    const results = await batchRecords({ energy: ru.energy, mu: ruSeries(300) }, {}, {
      device: 'cpu',
      workers: 2,
      onProgress: (p) => progress.push(p),
      onTimings: (t) => timings.push(t),
    });
    expect(results).toHaveLength(300);
    expect(progress.length).toBeGreaterThan(2);
    expect(progress.filter((p) => p.fraction === 1)).toHaveLength(1);
    expect(progress[progress.length - 1]).toEqual({ done: 300, total: 300, fraction: 1 });
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.done).toBeGreaterThan(progress[i - 1]!.done);
    expect(timings).toHaveLength(1);
    const t = timings[0]!;
    expect(t.submissions).toBe(0);
    expect(t.setupMs).toBeGreaterThan(0);
    expect(t.lmMs).toBeGreaterThan(0);
    expect(t.transformMs).toBeGreaterThan(0);
    expect(t.totalMs).toBeGreaterThan(0);
  });

  it.each([2, 0])('an abort during the batch rejects with its reason (workers: %i), and nothing reports after', async (workers) => {
    const controller = new AbortController();
    const reason = new Error('user stopped the batch');
    let after = 0;
    let rejected = false;
    const run = autobkBatch({ energy: ru.energy, mu: ruSeries(1000) }, {}, {
      device: 'cpu',
      workers,
      signal: controller.signal,
      onProgress: (p) => {
        if (rejected) after++;
        if (p.done > 0) controller.abort(reason);
      },
    });
    await expect(run).rejects.toBe(reason);
    rejected = true;
    await new Promise((r) => setTimeout(r, 200));
    expect(after).toBe(0);
  });

  it('an already aborted signal rejects before any fit', async () => {
    const reason = new Error('too late');
    await expect(autobkBatch([{ energy: ru.energy, mu: ru.mu }], {}, { device: 'cpu', signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });

  it("'auto' without an adapter runs on the CPU after one notice line", async () => {
    const lines: string[] = [];
    const spectra = fixtures.slice(0, 2).map((f) => ({ energy: f.energy, mu: f.mu }));
    const results = await batchRecords(spectra, {}, { gpuOptions: { gpu: noAdapter }, notice: (l) => lines.push(l) });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^batchfit: no WebGPU adapter found.*; autobkBatch runs on the CPU \(in the calling thread\)\.$/);
    expect(results.map((r) => r.device)).toEqual(['cpu', 'cpu']);
    expectSameAsAutobk(results[1], fixtures[1]!.energy, fixtures[1]!.mu);
  });

  it.skipIf(!ctx)(`'auto' with a context runs on it, without a notice ${gpuLabel(ctx)}`, async () => {
    const lines: string[] = [];
    const progress: BatchProgress[] = [];
    const spectra = fixtures.slice(0, 2).map((f) => ({ energy: f.energy, mu: f.mu }));
    const results = await batchRecords(spectra, {}, { gpu: ctx!, notice: (l) => lines.push(l), onProgress: (p) => progress.push(p) });
    expect(lines).toEqual([]);
    expect(results.map((r) => r.device)).toEqual(['gpu', 'gpu']);
    expect(results.map((r) => r.status)).toEqual(['converged', 'converged']);
    expect(progress.filter((p) => p.fraction === 1)).toHaveLength(1);
  });

  it.skipIf(!ctx?.adapterInfo.isFallbackAdapter)(`'auto' passes a software adapter over for the CPU, with one notice ${gpuLabel(ctx)}`, async () => {
    const lines: string[] = [];
    const spectra = fixtures.slice(0, 2).map((f) => ({ energy: f.energy, mu: f.mu }));
    const results = await batchRecords(spectra, {}, { notice: (l) => lines.push(l) });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^batchfit: only a software WebGPU adapter \(.*\(fallback\)\); autobkBatch runs on the CPU/);
    expect(results.map((r) => r.device)).toEqual(['cpu', 'cpu']);
    expectSameAsAutobk(results[1], fixtures[1]!.energy, fixtures[1]!.mu);
  });

  it("'gpu' without an adapter rejects, saying so", async () => {
    const run = autobkBatch([{ energy: ru.energy, mu: ru.mu }], {}, { device: 'gpu', gpuOptions: { gpu: noAdapter } });
    await expect(run).rejects.toThrow(GpuUnavailableError);
    await expect(autobkBatch([{ energy: ru.energy, mu: ru.mu }], {}, { device: 'gpu', gpuOptions: { gpu: noAdapter } })).rejects.toThrow(
      /^autobkBatch: device 'gpu' was requested but no WebGPU adapter found/,
    );
  });
});

describe('batchfit autobk-batch', () => {
  afterEach(() => vi.restoreAllMocks());
  const capture = (): string[] => {
    const lines: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
    vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
    return lines;
  };

  it('a series file (energy + one μ column per spectrum) on the CPU, with χ in the Arrow output equal to autobk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'batchfit-batch-cli-'));
    const mu = ruSeries(3, 77);
    const ne = ru.energy.length;
    const rows = Array.from(ru.energy, (e, i) => [e, mu[i], mu[ne + i], mu[2 * ne + i]].join(' '));
    writeFileSync(join(dir, 'series.dat'), `# energy s1 s2 s3\n${rows.join('\n')}\n`);
    const lines = capture();
    const code = await autobkBatchCommand(['--series', join(dir, 'series.dat'), '--device', 'cpu', '--workers', '0', '--rbkg', '1.1', '--out', join(dir, 'out')]);
    expect(code).toBe(0);
    expect(lines.join('\n')).toMatch(/3 spectra on the CPU: 3 converged, 0 at the iteration limit, 0 errors/);
    // The columnar output holds each spectrum's χ exactly as autobk gives it.
    const t = tableFromIPC(readFileSync(join(dir, 'out.arrow')));
    expect(t.numRows).toBe(3);
    expect(t.getChild('name')!.toArray()).toEqual(['series.dat:s1', 'series.dat:s2', 'series.dat:s3']);
    const a = autobk(ru.energy, mu.subarray(ne, 2 * ne), { rbkg: 1.1 });
    const chi2 = Array.from(t.getChild('chi')!.get(1)!.toArray() as Float64Array);
    expect(chi2).toHaveLength(a.chi.length);
    expect(maxAbsDiff(chi2, a.chi)).toBe(0);
    expect(readFileSync(join(dir, 'out.summary.csv'), 'utf8')).toContain(`series.dat:s2,converged,${a.e0},${a.edgeStep},${a.details.nspl},${a.details.chisqr},`);
  });

  it('several files; an unreadable one and one that cannot be fitted are reported, exit code 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'batchfit-batch-cli-'));
    writeFileSync(join(dir, 'short.dat'), '1 2\n2 3\n3 4\n4 5\n5 6\n');
    const lines = capture();
    const code = await autobkBatchCommand([join(fixtureDir, 'cu_rt01.xmu'), join(fixtureDir, 'README.md'), join(dir, 'short.dat'), '--device', 'cpu']);
    expect(code).toBe(1);
    const text = lines.join('\n');
    expect(text).toMatch(/^README\.md: error: README\.md: no numeric data rows found/m);
    // A file with one μ-labelled column takes it, and says so.
    expect(text).toMatch(/^note: cu_rt01\.xmu: mu is column 2 'mu'/m);
    expect(text).toMatch(/^cu_rt01\.xmu: converged, e0 8980\.5 eV/m);
    expect(text).toMatch(/^short\.dat: error: preEdge needs at least 10 finite points, got 5/m);
    expect(lines.join('\n')).toMatch(/3 spectra on the CPU: 1 converged, 0 at the iteration limit, 2 errors \(1 unreadable file, 1 failed fit\)/);
  });

  it('rejects a bad device and a missing input', async () => {
    const lines = capture();
    expect(await autobkBatchCommand(['--device', 'tpu', 'x.dat'])).toBe(2);
    expect(await autobkBatchCommand(['--device', 'cpu'])).toBe(2);
    expect(lines.join('\n')).toMatch(/--device = 'tpu' must be one of auto, gpu, cpu[\s\S]*give either spectrum files or --series FILE/);
  });
});
