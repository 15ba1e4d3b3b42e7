/** B-spline interpolation (FITPACK splrep/splev conventions) and numpy-style polyfit, against scipy/numpy values. */
import { expect, test } from 'vitest';
import { SplineInterpolator, splev, splineBasis, evalBasis } from '../../src/math/bspline.js';
import { polyfit } from '../../src/math/polyfit.js';
import { indexNearest, indexOf, interpLinear, roundHalfEven } from '../../src/math/interp.js';

test('not-a-knot interpolating spline equals scipy splrep/splev, extrapolation included', () => {
  const xs = [0, 0.3, 0.9, 1.4, 2.2, 3.1, 3.5, 4.8];
  const ys = xs.map((x) => Math.sin(x) + 0.1 * x * x);
  const sp = new SplineInterpolator(16);
  sp.fit(xs, ys, xs.length);
  // scipy.interpolate.splrep(xs, ys, k=3) (scipy 1.17)
  expect(Array.from(sp.knots.subarray(0, 12))).toEqual([0, 0, 0, 0, 0.9, 1.4, 2.2, 3.1, 4.8, 4.8, 4.8, 4.8]);
  const at = [-0.5, 0.1, 1.0, 2.9, 4.8, 5.5];
  const want = [-0.4659591987833414, 0.1011003807630264, 0.9415549766686623, 1.079462166939134, 1.3078353911641591, 2.5734891973530134];
  const out = new Float64Array(at.length);
  sp.evaluate(at, xs.length, out);
  for (let i = 0; i < at.length; i++) expect(out[i]).toBeCloseTo(want[i]!, 13);
  const viaSplev = splev(sp.knots, sp.coefs, xs.length, at);
  const viaBasis = evalBasis(splineBasis(sp.knots, xs.length, at), sp.coefs, new Float64Array(at.length));
  for (let i = 0; i < at.length; i++) {
    expect(viaSplev[i]).toBeCloseTo(want[i]!, 13);
    expect(viaBasis[i]).toBeCloseTo(want[i]!, 13);
  }
  const atData = new Float64Array(xs.length);
  sp.evaluate(xs, xs.length, atData);
  for (let i = 0; i < xs.length; i++) expect(atData[i]).toBeCloseTo(ys[i]!, 13);
});

test('cubic polynomials are reproduced exactly on a long irregular grid', () => {
  const n = 400;
  const x = Float64Array.from({ length: n }, (_, i) => i * 0.05 + 0.01 * Math.sin(i));
  const f = (v: number): number => 1 - 2 * v + 0.3 * v * v - 0.01 * v ** 3;
  const sp = new SplineInterpolator(n);
  sp.fit(x, Float64Array.from(x, f), n);
  const at = Float64Array.from({ length: 50 }, (_, i) => -1 + i * 0.45);
  const out = new Float64Array(50);
  sp.evaluate(at, n, out);
  for (let i = 0; i < 50; i++) expect(Math.abs(out[i]! - f(at[i]!))).toBeLessThan(1e-9 * Math.max(1, Math.abs(f(at[i]!))));
});

test('polyfit equals numpy Polynomial.fit(...).convert().coef on 1e4 eV abscissae', () => {
  const x = Float64Array.from({ length: 37 }, (_, i) => 8000 + (i * 1000) / 36);
  const y = Float64Array.from(x, (v) => 1e-3 * (v - 8500) + 2e-7 * (v - 8500) ** 2 + Math.sin(v / 50) * 0.01);
  const c = polyfit(x, y, 2);
  const want = [5.276683352322051, -0.002244614530428574, 1.910459574349962e-7];
  for (let j = 0; j < 3; j++) expect(Math.abs(c[j]! - want[j]!)).toBeLessThan(1e-9 * Math.abs(want[j]!));
});

test('index look-ups, numpy.interp and Python rounding', () => {
  const a = [1, 2, 4, 8];
  expect([indexOf(a, 0), indexOf(a, 1), indexOf(a, 3.9), indexOf(a, 100)]).toEqual([0, 0, 1, 3]);
  expect([indexNearest(a, 3), indexNearest(a, 2.9), indexNearest(a, 6), indexNearest(a, -5)]).toEqual([1, 1, 2, 0]);
  expect(Array.from(interpLinear([0, 1.5, 3, 9], a, [10, 20, 40, 80]))).toEqual([10, 15, 30, 80]);
  expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, -38.3].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, -2, 2, -38]);
});
