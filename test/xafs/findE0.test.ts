/** findE0's helpers against their plain definitions (sort everything; direct convolution). */
import { expect, test } from 'vitest';
import { findEnergyStep, lorentzianSmooth } from '../../src/xafs/index.js';
import { interpLinear } from '../../src/math/interp.js';
import { gaussian, mulberry32 } from '../util/random.js';

/** Larch's find_energy_step as written: sort, slice, diff, sort, mean of the first nave. */
function energyStepBySorting(energy: ArrayLike<number>, fracIgnore = 0.01, nave = 10): number {
  const n = energy.length;
  const nskip = Math.trunc(fracIgnore * n);
  if (nskip === 0) return NaN;
  const sorted = Float64Array.from(energy).sort();
  const len = n - 2 * nskip;
  if (len < 2) return NaN;
  const diffs = new Float64Array(len - 1);
  for (let i = 0; i < len - 1; i++) diffs[i] = sorted[nskip + i + 1]! - sorted[nskip + i]!;
  diffs.sort();
  const stop = Math.min(diffs.length, nskip + nave);
  if (stop <= nskip) return NaN;
  let s = 0;
  for (let i = nskip; i < stop; i++) s += diffs[i]!;
  return s / (stop - nskip);
}

test('findEnergyStep equals the sort-everything definition, sorted or not, with repeats and NaN', () => {
  const rnd = mulberry32(21);
  for (let trial = 0; trial < 300; trial++) {
    const n = 100 + Math.floor(rnd() * 900);
    const e = new Float64Array(n);
    let v = 8000;
    for (let i = 0; i < n; i++) {
      v += trial % 5 === 0 ? Math.round(rnd() * 3) * 0.5 : 0.1 + rnd() * 5;
      e[i] = v;
    }
    if (trial % 3 === 1) e.sort(() => rnd() - 0.5);
    if (trial % 7 === 2) e[Math.floor(rnd() * n)] = NaN;
    // Three infinite energies with one point skipped at each end: NaN differences (∞ − ∞) remain.
    if (trial % 11 === 4) e.fill(Infinity, n - 3);
    const frac = trial % 11 === 4 ? 1.5 / n : trial % 4 === 3 ? 0.05 : 0.01;
    const got = findEnergyStep(e, frac);
    const want = energyStepBySorting(e, frac);
    expect(Object.is(got, want) || got === want).toBe(true);
  }
  expect(findEnergyStep([1, 2, 3])).toBeNaN();
});

test('lorentzianSmooth equals a direct mirror-padded convolution', () => {
  const rnd = gaussian(mulberry32(4));
  for (const [n, step] of [[149, 0.37], [60, 1.3], [200, 0.05]] as const) {
    const x = new Float64Array(n);
    let v = 9000;
    for (let i = 0; i < n; i++) {
      v += 0.2 + Math.abs(rnd());
      x[i] = v;
    }
    const y = Float64Array.from(x, (xi) => Math.atan((xi - x[n >> 1]!) / 3) + 0.01 * rnd());
    const got = lorentzianSmooth(x, y, step);
    // Larch's smooth: resample, convolve with the full-length kernel in 'valid' mode, resample back.
    const xmin = step * Math.trunc((x[0]! - 5 * step) / step);
    const xmax = step * Math.trunc((x[n - 1]! + 5 * step) / step);
    const npts = Math.min(1 + Math.trunc(Math.abs(xmax - xmin + 0.1 * step) / step), 50 * n);
    const x0 = Float64Array.from({ length: npts }, (_, i) => (i === npts - 1 ? xmax : xmin + (i * (xmax - xmin)) / (npts - 1)));
    const y0 = interpLinear(x0, x, y);
    const ypad = [...Array.from(y0.subarray(1)).reverse(), ...y0, ...Array.from(y0).reverse()];
    const w = Array.from({ length: 2 * npts }, (_, m) => 1 / (Math.PI * (1 + (m - npts) ** 2)));
    const wsum = w.reduce((a, b) => a + b, 0);
    const y2 = new Float64Array(npts);
    for (let j = 0; j < npts; j++) {
      let s = 0;
      for (let m = 0; m < w.length; m++) s += w[m]! * ypad[j + w.length - 1 - m]!;
      y2[j] = s / wsum;
    }
    const want = interpLinear(x, x0, y2);
    for (let i = 0; i < n; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-12);
    // Again, with the kernel's transform from the cache.
    expect(Array.from(lorentzianSmooth(x, y, step))).toEqual(Array.from(got));
  }
});
