/**
 * edgeStepMap: pre_edge's edge step of a series as one linear functional of μ, against preEdge
 * on the measured spectra and noisy copies of them.
 */
import { describe, expect, it } from 'vitest';
import { edgeStepMap, type EdgeStepMap } from '../../src/xafs/edgeStepMap.js';
import { preEdge, type PreEdgeOptions, type PreEdgeResult } from '../../src/xafs/preEdge.js';
import { loadReference, loadSpectrum, referenceNames } from './fixtures.js';
import { gaussian, mulberry32 } from '../util/random.js';

/**
 * preEdge forms the step from power-basis terms (its polyfit converts to Σ a_k·E^k, evaluated at
 * E ≈ 1e4 eV, and adds and removes pre(E[ie0])), so its own rounding scales with
 * Σ_k |a_k·x0^k| + |pre(x0)|, not with the step: the map agrees to a small multiple of eps of that
 * (measured ≤ 4.1e-15 over every case below). For nnorm ≥ 3 those terms cancel to 1e-7 of the
 * step; the map is then the accurate one (it matches a refit in the mapped basis to ~1e-15).
 */
const TERM_TOL = 1e-13;
/** With the default options the terms are of the step's size: relative agreement (measured ≤ 3.3e-14). */
const STEP_TOL = 1e-12;

/** The fixture spectra, once each (the other references reuse these data files). */
const SPECTRA = referenceNames.filter((n) => !n.includes('__'));

function noisy(mu: Float64Array, seed: number, level: number): Float64Array {
  const rnd = gaussian(mulberry32(seed));
  const sigma = level * (Math.max(...mu) - Math.min(...mu));
  return Float64Array.from(mu, (v) => v + sigma * rnd());
}

function apply(map: EdgeStepMap, mu: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < map.weights.length; i++) s += map.weights[i]! * mu[map.start + i]!;
  return s;
}

/** preEdge's signed step: postEdge − preEdge at ie0 is the very expression its edgeStep takes |·| of. */
function signedStep(r: PreEdgeResult): number {
  return r.postEdge[r.ie0]! - r.preEdge[r.ie0]!;
}

/** The size of the terms preEdge sums to form the step (see TERM_TOL). */
function termScale(r: PreEdgeResult): number {
  const x0 = r.energy[r.ie0]!;
  let s = Math.abs(r.preEdge[r.ie0]!);
  for (let k = 0; k < r.normCoefs.length; k++) s += Math.abs(r.normCoefs[k]! * x0 ** k);
  return s;
}

function rows(mu: Float64Array): Float64Array[] {
  return [mu, noisy(mu, 1, 3e-3), noisy(mu, 2, 3e-3), noisy(mu, 3, 3e-2)];
}

const VARIANTS: PreEdgeOptions[] = [
  {},
  { nnorm: 0 },
  { nnorm: 1 },
  { nnorm: 2 },
  { nnorm: 3 },
  { nnorm: 5 },
  { nvict: 1 },
  { nvict: 2 },
  { nvict: -1.5 },
  { npre: 0 },
  { pre1: -80, pre2: -30 },
  // Reversed bounds are swapped by preEdge.
  { pre1: -20, pre2: -60 },
  // Too few pre-edge points: preEdge falls back to a constant pre-edge.
  { pre1: -30, pre2: -29 },
  { norm1: 50, norm2: 400 },
  { norm2: -100 },
  { pre1: -40, pre2: -20, norm1: 10, norm2: 60 },
  // Overlapping ranges: a sample weighs in both fits.
  { pre1: -60, pre2: 10, norm1: -5, norm2: 200 },
];

describe('edgeStepMap: the edge step as Σ w·μ', () => {
  it.each(SPECTRA)('%s: equals preEdge for every option variant, on the data and noisy copies', (name) => {
    const { energy, mu } = loadSpectrum(loadReference(name));
    const e0 = preEdge(energy, mu).e0;
    for (const options of VARIANTS) {
      const map = edgeStepMap(energy, e0, options);
      expect(map, JSON.stringify(options)).not.toBeNull();
      for (const m of rows(mu)) {
        const r = preEdge(energy, m, { e0, ...options });
        const s = apply(map!, m);
        expect(Math.abs(s - signedStep(r)), JSON.stringify(options)).toBeLessThanOrEqual(TERM_TOL * termScale(r));
        // What a caller does with the map's s: preEdge's edgeStep is this of its own signed step.
        expect(Math.max(1e-12, Math.abs(signedStep(r)))).toBe(r.edgeStep);
      }
    }
  });

  it.each(SPECTRA)('%s: default options agree with edgeStep to %s relative', (name) => {
    const { energy, mu } = loadSpectrum(loadReference(name));
    const e0 = preEdge(energy, mu).e0;
    const map = edgeStepMap(energy, e0)!;
    for (const m of rows(mu)) {
      const r = preEdge(energy, m, { e0 });
      expect(Math.abs(Math.abs(apply(map, m)) - r.edgeStep) / r.edgeStep).toBeLessThanOrEqual(STEP_TOL);
    }
  });

  it.each(SPECTRA)('%s: the weights cover exactly the samples preEdge reads', (name) => {
    const { energy, mu } = loadSpectrum(loadReference(name));
    const e0 = preEdge(energy, mu).e0;
    for (const options of [{}, { pre1: -40, pre2: -20, norm1: 10, norm2: 60 }]) {
      const { start, weights } = edgeStepMap(energy, e0, options)!;
      // Tight: the first pre-edge and the last post-edge sample both count.
      expect(weights[0]).not.toBe(0);
      expect(weights[weights.length - 1]).not.toBe(0);
      // Every sample of weight 0 (outside the span, or between the two ranges) is never read:
      // replacing them all leaves preEdge's step bit for bit.
      const changed = Float64Array.from(mu, (v, i) => {
        const j = i - start;
        return j >= 0 && j < weights.length && weights[j] !== 0 ? v : v + 10 + i;
      });
      expect(preEdge(energy, changed, { e0, ...options }).edgeStep).toBe(preEdge(energy, mu, { e0, ...options }).edgeStep);
    }
  });

  it('Ru_QAS: span of the default map', () => {
    const { energy, mu } = loadSpectrum(loadReference('ru_qas'));
    const e0 = preEdge(energy, mu).e0;
    const map = edgeStepMap(energy, e0)!;
    expect(energy.length).toBe(645);
    // Pre-edge from the second sample (pre1 rounds E[1] − e0), post-edge up to the sample before
    // the one nearest e0 + norm2 (the last energy), which pre_edge excludes.
    expect([map.start, map.weights.length]).toEqual([1, 643]);
  });

  it('a negative step: the map is signed, preEdge takes |step|', () => {
    const { energy, mu } = loadSpectrum(loadReference('cu_rt01'));
    const e0 = preEdge(energy, mu).e0;
    const map = edgeStepMap(energy, e0)!;
    const neg = Float64Array.from(mu, (v) => -v);
    const r = preEdge(energy, neg, { e0 });
    expect(apply(map, neg)).toBeLessThan(0);
    expect(Math.abs(apply(map, neg)) / r.edgeStep).toBeCloseTo(1, 12);
  });

  it('options.e0 wins over the e0 argument, as in planSeries ({ e0, ...preEdgeOptions })', () => {
    const { energy, mu } = loadSpectrum(loadReference('cu_rt01'));
    const e0 = preEdge(energy, mu).e0;
    expect(edgeStepMap(energy, e0 + 50, { e0 })).toEqual(edgeStepMap(energy, e0));
  });

  it('non-finite μ: preEdge drops the row and still reports a step, the map does not apply', () => {
    const { energy, mu } = loadSpectrum(loadReference('ru_qas'));
    const e0 = preEdge(energy, mu).e0;
    const map = edgeStepMap(energy, e0)!;
    const bad = Float64Array.from(mu);
    bad[500] = NaN;
    // The caller must check μ (planSeries: finiteRow) and the sum before using it.
    expect(Number.isFinite(preEdge(energy, bad, { e0 }).edgeStep)).toBe(true);
    expect(apply(map, bad)).toBeNaN();
  });

  describe('null where the step is not one fixed linear functional', () => {
    const { energy, mu } = loadSpectrum(loadReference('cu_rt01'));
    const e0 = preEdge(energy, mu).e0;
    const n = energy.length;

    it('a given step (a constant)', () => {
      expect(edgeStepMap(energy, e0, { step: 0.7 })).toBeNull();
    });

    it('e0 outside [E[1], E[n−2]] or unset: preEdge finds e0 from μ', () => {
      expect(edgeStepMap(energy, energy[0]!)).toBeNull();
      expect(edgeStepMap(energy, energy[n - 1]!)).toBeNull();
      expect(edgeStepMap(energy, e0, { e0: undefined })).toBeNull();
    });

    it('a grid preEdge would clean (unsorted, duplicate or non-finite energies)', () => {
      const swapped = Float64Array.from(energy);
      [swapped[3], swapped[4]] = [swapped[4]!, swapped[3]!];
      const dup = Float64Array.from(energy);
      dup[4] = dup[3]!;
      const nan = Float64Array.from(energy);
      nan[2] = NaN;
      for (const grid of [swapped, dup, nan]) expect(edgeStepMap(grid, e0)).toBeNull();
    });

    it('options or grids preEdge rejects for every μ', () => {
      expect(() => preEdge(energy, mu, { e0, nvict: NaN })).toThrow(RangeError);
      expect(edgeStepMap(energy, e0, { nvict: NaN })).toBeNull();
      const short = energy.subarray(0, 9);
      expect(edgeStepMap(short, short[4]!)).toBeNull();
    });

    it('a step that is NaN for every μ', () => {
      // Energies relative to e0 (negative below the edge) with a fractional nvict: E^nvict is NaN,
      // which preEdge refuses by name.
      const relative = Float64Array.from(energy, (v) => v - e0);
      expect(() => preEdge(relative, mu, { e0: 0, nvict: 0.5 })).toThrow(/nvict = 0.5 needs energies > 0/);
      expect(edgeStepMap(relative, 0, { nvict: 0.5 })).toBeNull();
    });
  });
});
