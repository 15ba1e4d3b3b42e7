/**
 * The shared linear maps of a packed series against the per-spectrum float64 setup
 * (autobkGrids / autobkSetup), and which spectra of a batch the series path takes.
 */
import { describe, expect, it } from 'vitest';
import { autobkGrids, autobkSetup, type AutobkOptions } from '../../src/xafs/autobk.js';
import { autobkSeriesDesign, planSeries } from '../../src/xafs/autobkSeries.js';
import { preEdge } from '../../src/xafs/preEdge.js';
import { autobkOptionsOf, loadReference, loadSpectrum, maxAbs, maxAbsDiff } from './fixtures.js';
import { gaussian, mulberry32 } from '../util/random.js';

/** Rounding of the f64 maps (spline solves, DFTs) relative to max|μ| (r0: to max|b|). */
const MAP_TOL = 1e-12;

function noisy(mu: Float64Array, seed: number, level: number): Float64Array {
  const rnd = gaussian(mulberry32(seed));
  const sigma = level * (Math.max(...mu) - Math.min(...mu));
  return Float64Array.from(mu, (v) => v + sigma * rnd());
}

/** y = M·x[o .. o + cols) for a row-major rows × cols matrix. */
function apply(m: Float64Array, rows: number, cols: number, x: ArrayLike<number>, o: number): Float64Array {
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let acc = 0;
    for (let i = 0; i < cols; i++) acc += m[r * cols + i]! * x[o + i]!;
    y[r] = acc;
  }
  return y;
}

describe('autobkSeriesDesign: the setup of a series as linear maps of μ', () => {
  const cases: [string, AutobkOptions][] = [
    ['ru_qas', {}],
    ['cu_rt01', { rbkg: 1.4, kweight: 2 }],
    ['scorodite_as_trans', { nclamp: 0 }],
  ];
  it.each(cases)('%s %o: c0, χ0 and r0 equal autobkGrids/autobkSetup of each spectrum', (name, extra) => {
    const { energy, mu } = loadSpectrum(loadReference(name));
    const pre = preEdge(energy, mu);
    const options = { ...autobkOptionsOf(loadReference(name)), ...extra, e0: pre.e0, edgeStep: pre.edgeStep };
    const design = autobkSeriesDesign(autobkGrids(energy, mu, options));
    const { nIn, iek0, nk, nspl, rows } = design;
    for (let seed = 1; seed <= 3; seed++) {
      const m = noisy(mu, seed, 3e-3);
      const setup = autobkSetup(energy, m, options);
      const scale = maxAbs(m);
      expect(maxAbsDiff(apply(design.coefMap, nspl, nIn, m, iek0), setup.initCoefs) / scale).toBeLessThanOrEqual(MAP_TOL);
      const chi0 = new Float64Array(nk);
      for (let i = 0; i < nk; i++) {
        const f = setup.basisK.first[i]!;
        let b = 0;
        for (let k = 0; k < 4; k++) b += setup.basisK.vals[4 * i + k]! * setup.initCoefs[f + k]!;
        chi0[i] = setup.chiData[i]! - b;
      }
      expect(maxAbsDiff(apply(design.chiMap, nk, nIn, m, iek0), chi0) / scale).toBeLessThanOrEqual(MAP_TOL);
      const r0 = Float64Array.from(setup.b);
      for (let j = 0; j < nspl; j++) for (let i = 0; i < rows; i++) r0[i]! += setup.A[j * rows + i]! * setup.initCoefs[j]!;
      // r0 = A·c0 + b cancels terms of the size of b (the transform of the windowed χ_data).
      expect(maxAbsDiff(apply(design.residualMap, rows, nIn, m, iek0), r0) / maxAbs(setup.b)).toBeLessThanOrEqual(MAP_TOL);
      // The series' A is every spectrum's A (it depends on the grid only).
      expect(maxAbsDiff(design.A, setup.A)).toBe(0);
    }
  });

  it('a constant μ has χ0 = 0 and r0 = 0 (constants lie in the spline space)', () => {
    const { energy, mu } = loadSpectrum(loadReference('ru_qas'));
    const design = autobkSeriesDesign(autobkGrids(energy, mu, { e0: 22117, edgeStep: 1 }));
    const ones = new Float64Array(design.nIn).fill(1);
    expect(maxAbs(apply(design.chiMap, design.nk, design.nIn, ones, 0))).toBeLessThanOrEqual(1e-12);
    expect(maxAbs(apply(design.residualMap, design.rows, design.nIn, ones, 0))).toBeLessThanOrEqual(1e-12);
    expect(maxAbsDiff(apply(design.coefMap, design.nspl, design.nIn, ones, 0), new Float64Array(design.nspl).fill(1))).toBeLessThanOrEqual(1e-12);
  });
});

describe('planSeries: which spectra of a batch take the series path', () => {
  const { energy, mu } = loadSpectrum(loadReference('ru_qas'));
  const ne = energy.length;
  const pack = (count: number): Float64Array => {
    const out = new Float64Array(count * ne);
    for (let s = 0; s < count; s++) out.set(noisy(mu, 50 + s, 2e-3), s * ne);
    return out;
  };

  it('a series with one e0 and edge steps: every finite spectrum; non-finite μ is left to the per-spectrum path', () => {
    const packed = pack(6);
    packed[2 * ne + 10] = NaN;
    packed[4 * ne + 300] = Infinity;
    const plan = planSeries({ energy, mu: packed, e0: 22117, edgeStep: Float64Array.from([1, 2, 3, 4, 5, -6]) }, {});
    expect(plan).not.toBeNull();
    expect(Array.from(plan!.indices)).toEqual([0, 1, 3, 5]);
    expect(Array.from(plan!.edgeSteps)).toEqual([1, 2, 4, 6]);
    expect(plan!.rest).toEqual([2, 4]);
    expect(plan!.e0).toBe(22117);
  });

  it('edge steps missing: each one from pre_edge, as autobk finds it', () => {
    const packed = pack(3);
    const plan = planSeries({ energy, mu: packed, e0: 22117 }, {});
    for (let s = 0; s < 3; s++) {
      const grids = autobkGrids(energy, packed.subarray(s * ne, (s + 1) * ne), { e0: 22117 });
      expect(plan!.edgeSteps[s]).toBe(grids.edgeStep);
    }
  });

  it('e0 per spectrum (unequal), no e0, chiStd or a bad shared setup: no series', () => {
    const packed = pack(3);
    expect(planSeries({ energy, mu: packed, e0: Float64Array.from([22117, 22117, 22118]) }, {})).toBeNull();
    expect(planSeries({ energy, mu: packed, e0: Float64Array.from([22117, 22117, 22117]) }, {})?.indices.length).toBe(3);
    expect(planSeries({ energy, mu: packed }, {})).toBeNull();
    expect(planSeries({ energy, mu: packed, e0: 22117, edgeStep: 1 }, { chiStd: new Float64Array(10) })).toBeNull();
    expect(planSeries({ energy, mu: packed, e0: 1e6, edgeStep: 1 }, {})).toBeNull();
  });
});
