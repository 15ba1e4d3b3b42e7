/**
 * Fuzz properties of the XAFS functions (issue 13): random options — each absent, sane or
 * hostile (NaN, ±Infinity, 0, negative, 1e±300, huge integers, wrong types) — on a fixture
 * spectrum give either finite results or an error naming an option or input field; never an
 * engine TypeError/RangeError, never NaN. CPU batches with corrupted items keep count and order,
 * fail the bad items alone and fit the good ones as single autobk calls do.
 */
import fc from 'fast-check';
import { serveWorker } from '../../src/cpu/workerPool.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
// The modules themselves, not index.ts: its autobkBatch would load autobkWorker.ts into the fuzz worker.
import { autobk } from '../../src/xafs/autobk.js';
import { findE0 } from '../../src/xafs/findE0.js';
import { ftwindow } from '../../src/xafs/ftwindow.js';
import { preEdge } from '../../src/xafs/preEdge.js';
import { readSpectrum } from '../../src/xafs/readSpectrum.js';
import { xftf } from '../../src/xafs/xft.js';
import { fuzzProperty, fuzzWorker } from './harness.js';

// Workers run a transpiled copy of this file elsewhere: the fixture is found from the package root.
export const { energy: E, mu: MU } = readSpectrum(readFileSync(join(process.cwd(), 'test/fixtures/xafs/cu_rt01.xmu'), 'utf8'), { energy: 1, mu: 2 });

const hostile = fc.constantFrom<unknown>(NaN, Infinity, -Infinity, 0, -1, -0.5, 1e300, -1e300, 1e-300, 2 ** 31, 2 ** 53, 1e9, '1', null, true, {}, [1]);
/** An option: absent (undefined), a value from its sane range, or a hostile one. */
function option(sane: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 3, arbitrary: sane }, { weight: 2, arbitrary: hostile });
}
function record(spec: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Record<string, unknown>> {
  const arbs: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [key, sane] of Object.entries(spec)) arbs[key] = option(sane);
  // Absent keys are left out, so that `undefined` is never an explicit value.
  return fc.record(arbs).map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)));
}
const real = (min: number, max: number) => fc.double({ min, max, noNaN: true });
const windows = fc.constantFrom('hanning', 'kaiser', 'parzen', 'welch', 'gaussian', 'sine', 'box');

export const autobkOptions = record({
  rbkg: real(0.05, 3), kweight: real(0, 5), dk: real(0, 5), win: windows, nfft: fc.constantFrom(512, 1024, 2048, 4096, 1000),
  kstep: real(0.02, 0.2), nclamp: fc.integer({ min: 0, max: 8 }), clampLo: real(0, 20), clampHi: real(0, 20), kmin: real(0, 5),
  kmax: real(-1, 25), nknots: fc.integer({ min: 1, max: 40 }), e0: real(8950, 9050), edgeStep: real(-5, 5),
});
const preEdgeOptions = record({
  e0: real(8950, 9050), step: real(0, 5), pre1: real(-200, 0), pre2: real(-100, 0), norm1: real(0, 300), norm2: real(-100, 1000),
  nnorm: fc.integer({ min: 0, max: 6 }), nvict: real(-5, 5), npre: fc.integer({ min: 0, max: 2 }), makeFlat: fc.boolean(),
});
const xftfOptions = record({
  kmin: real(0, 5), kmax: real(5, 25), kweight: real(0, 5), dk: real(0, 5), dk2: real(0, 5), window: windows,
  rmaxOut: real(1, 20), nfft: fc.constantFrom(512, 2048, 1000), kstep: real(0.02, 0.1),
});
const windowOptions = record({ xmin: real(0, 10), xmax: real(5, 25), dx: real(0, 10), dx2: real(0, 10), window: windows });

const OPTION_NAMES = /\b(rbkg|kweight|dk2?|dx2?|win|window|nfft|kstep|nclamp|clampLo|clampHi|kmin|kmax|nknots|e0|edgeStep|edge step|step|pre1|pre2|norm1|norm2|nnorm|nvict|npre|makeFlat|rmaxOut|xmin|xmax|mu|energy|k|chi|x) = |\b(energy|mu|options|k|chi|x) must\b|only \d+ energy points/;

/** An expected outcome: finite numbers, or an error that names a field. */
function expectNamedError(e: unknown): void {
  if (!(e instanceof Error)) throw new Error(`threw a non-Error: ${String(e)}`);
  if (!OPTION_NAMES.test(e.message)) throw new Error(`error names no option: ${e.constructor.name}: ${e.message}`);
}
function expectFinite(name: string, v: number | ArrayLike<number> | null | undefined): void {
  if (v === null || v === undefined) return;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`${name} = ${v} is not finite`);
    return;
  }
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) throw new Error(`${name}[${i}] = ${v[i]} is not finite`);
}
function outcome(run: () => void): void {
  let result: (() => void) | null = null;
  try {
    run();
  } catch (e) {
    if (e instanceof Error && /is not finite$/.test(e.message)) throw e;
    result = () => expectNamedError(e);
  }
  result?.();
}

/** Corruptions of one batch item. */
export const corruption = fc.constantFrom('none', 'nan', 'constant', 'reversed', 'huge', 'short', 'zero');
export function corrupt(kind: string): { energy: Float64Array; mu: Float64Array } {
  const energy = Float64Array.from(E);
  const mu = Float64Array.from(MU);
  switch (kind) {
    case 'nan': mu.fill(NaN); break;
    case 'constant': mu.fill(0.4); break;
    case 'zero': mu.fill(0); break;
    case 'reversed': energy.reverse(); mu.reverse(); break;
    case 'huge': energy[energy.length - 1] = 1e300; break;
    case 'short': return { energy: energy.subarray(0, 6), mu: mu.subarray(0, 6) };
  }
  return { energy, mu };
}

export const properties = {
  'autobk: any options give finite results or a named error': fuzzProperty(autobkOptions, (o) => outcome(() => {
    const r = autobk(E, MU, o);
    expectFinite('chi', r.chi);
    expectFinite('bkg', r.bkg);
    expectFinite('chisqr', r.details.chisqr);
    expectFinite('edgeStep', r.edgeStep);
  }), { share: 0.5 }),
  'preEdge: any options give finite results or a named error': fuzzProperty(preEdgeOptions, (o) => outcome(() => {
    const r = preEdge(E, MU, o);
    expectFinite('edgeStep', r.edgeStep);
    expectFinite('norm', r.norm);
    expectFinite('flat', r.flat);
    expectFinite('postEdge', r.postEdge);
  })),
  'xftf, ftwindow, findE0: finite results or a named error': fuzzProperty(fc.tuple(xftfOptions, windowOptions, fc.integer({ min: 0, max: 3 })), ([xo, wo, cut]) => {
    const k = Float64Array.from({ length: 340 }, (_, i) => 0.05 * i);
    const chi = Float64Array.from(k, (v) => Math.sin(2.1 * v) * Math.exp(-0.02 * v * v));
    outcome(() => {
      const r = xftf(k, chi, xo);
      expectFinite('chirMag', r.chirMag);
      expectFinite('chirPha', r.chirPha);
    });
    outcome(() => expectFinite('window', ftwindow(k, wo)));
    outcome(() => expectFinite('e0', findE0(E.subarray(0, E.length >> cut), MU.subarray(0, E.length >> cut))));
  }),
};

/**
 * Runs in the test's own thread (xafs.fuzz.test.ts), not in the fuzz worker: autobkBatch's CPU
 * back end imports autobkWorker.ts, whose serveWorker would also answer the fuzz worker's
 * messages in the same thread.
 */
export const batchProperty = {
  'autobkBatch (CPU): bad items fail alone, good ones equal autobk': fuzzProperty(fc.array(corruption, { minLength: 2, maxLength: 5 }), async (kinds) => {
    const spectra = kinds.map(corrupt);
    // Imported here: the fuzz worker, which never runs this property, must not load autobkWorker.ts.
    const { autobkBatch } = await import('../../src/xafs/autobkBatch.js');
    const results = (await autobkBatch(spectra, {}, { device: 'cpu', workers: 0 })).toRecords();
    if (results.length !== spectra.length) throw new Error(`${results.length} results for ${spectra.length} spectra`);
    results.forEach((r, i) => {
      if (r.index !== i) throw new Error(`result ${i} has index ${r.index}`);
      let single: ReturnType<typeof autobk> | null = null;
      let err = '';
      try {
        single = autobk(spectra[i]!.energy, spectra[i]!.mu);
      } catch (e) {
        err = (e as Error).message;
      }
      if (single === null) {
        if (r.status !== 'error' || r.error !== err) throw new Error(`item ${i} (${kinds[i]}): batch ${r.status}, autobk threw ${err}`);
        return;
      }
      if (r.status === 'error') throw new Error(`item ${i} (${kinds[i]}): batch error ${r.error}, autobk fitted`);
      for (let j = 0; j < single.chi.length; j++) {
        if (!(Math.abs(r.chi[j]! - single.chi[j]!) <= 1e-9)) throw new Error(`item ${i} (${kinds[i]}): χ[${j}] ${r.chi[j]} vs ${single.chi[j]}`);
      }
      if (kinds[i] !== 'none' && kinds[i] !== 'reversed') throw new Error(`item ${i} (${kinds[i]}) fitted`);
    });
  }, { share: 0.25, caseMs: 3000 }),
};

void serveWorker(fuzzWorker(properties));
