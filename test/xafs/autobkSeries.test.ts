/**
 * The shared linear maps of a packed series against the per-spectrum float64 setup
 * (autobkGrids / autobkSetup), and which spectra of a batch the series path takes.
 */
import { describe, expect, it } from 'vitest';
import { autobkGrids, autobkSetup, type AutobkOptions } from '../../src/xafs/autobk.js';
import { autobkSeriesDesign, planSeries, seriesE0 } from '../../src/xafs/autobkSeries.js';
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

describe('planSeries: whether a series has one shared setup', () => {
  const { energy } = loadSpectrum(loadReference('ru_qas'));

  it('one e0 on a clean grid: the maps, with the edge-step functional unless the steps are given', () => {
    const withSteps = planSeries(energy, 22117, {}, true);
    expect(withSteps).not.toBeNull();
    expect(withSteps!.edgeWeights).toBeNull();
    const computed = planSeries(energy, 22117, {}, false);
    expect(computed!.edgeWeights).not.toBeNull();
    expect(computed!.edgeStart + computed!.edgeWeights!.length).toBeLessThanOrEqual(energy.length);
  });

  it('seriesE0: one number, or an array of one value', () => {
    expect(seriesE0(22117)).toBe(22117);
    expect(seriesE0(Float64Array.from([22117, 22117, 22117]))).toBe(22117);
    expect(seriesE0(Float64Array.from([22117, 22117, 22118]))).toBeNull();
    expect(seriesE0(undefined)).toBeNull();
  });

  it('chiStd, a setup autobk refuses or a grid cleaning would change: no series', () => {
    expect(planSeries(energy, 22117, { chiStd: new Float64Array(10) }, true)).toBeNull();
    expect(planSeries(energy, 1e6, {}, true)).toBeNull();
    const unsorted = Float64Array.from(energy);
    [unsorted[10], unsorted[11]] = [unsorted[11]!, unsorted[10]!];
    expect(planSeries(unsorted, 22117, {}, true)).toBeNull();
  });
});
