/** Bad input never crashes and never silently corrupts: cleaned with a report, clipped with a warning, or a clear error. */
import { expect, test } from 'vitest';
import { autobk, preEdge, readSpectrum } from '../../src/xafs/index.js';
import { autobkOptionsOf, loadReference, loadSpectrum, maxAbs, maxAbsDiff } from './fixtures.js';

const ref = loadReference('cu_rt01');
const { energy, mu } = loadSpectrum(ref);
const opts = autobkOptionsOf(ref);
const base = autobk(energy, mu, opts);

test('unsorted energies are sorted first: same result as sorted input', () => {
  const n = energy.length;
  const order = Array.from({ length: n }, (_, i) => (i * 37) % n);
  const e = Float64Array.from(order, (i) => energy[i]!);
  const m = Float64Array.from(order, (i) => mu[i]!);
  const res = autobk(e, m, opts);
  expect(res.sorted).toBe(true);
  expect(maxAbsDiff(res.chi, base.chi)).toBe(0);
  expect(preEdge(e, m).e0).toBe(ref.e0);
});

test('duplicate energies are separated by 0.0005 eV, not dropped', () => {
  const e = Float64Array.from([...energy.slice(0, 200), energy[199]!, ...energy.slice(200)]);
  const m = Float64Array.from([...mu.slice(0, 200), mu[199]!, ...mu.slice(200)]);
  const res = autobk(e, m, opts);
  expect(res.separatedDuplicates).toBe(1);
  expect(res.energy[200]! - res.energy[199]!).toBeCloseTo(0.0005, 12);
  expect(res.energy.length).toBe(energy.length + 1);
  expect(maxAbsDiff(res.chi, base.chi)).toBeLessThan(1e-2 * maxAbs(base.chi));
});

test('NaN rows are dropped and counted', () => {
  const e = Float64Array.from(energy);
  const m = Float64Array.from(mu);
  m[100] = NaN;
  e[300] = Number.POSITIVE_INFINITY;
  const res = autobk(e, m, opts);
  expect(res.droppedNonFinite).toBe(2);
  expect(res.energy.length).toBe(energy.length - 2);
  for (const v of res.chi) expect(Number.isFinite(v)).toBe(true);
  expect(preEdge(e, m).droppedNonFinite).toBe(2);
});

test('e0 outside the data is an error naming the value and the range', () => {
  expect(() => autobk(energy, mu, { e0: 12345 })).toThrow(/e0 = 12345 is outside the energy range \[8779, /);
});

test('kmax beyond the data is clipped, with a warning', () => {
  const res = autobk(energy, mu, { ...opts, kmax: 30 });
  expect(res.details.kmax).toBeCloseTo(ref.autobk_details.kmax, 12);
  expect(res.details.warnings.join()).toMatch(/kmax = 30 is beyond the data/);
  expect(maxAbsDiff(res.chi, base.chi)).toBe(0);
});

test('nknots > 128 is clipped to 128, with a warning', () => {
  // A fine, long synthetic scan so that 128 knots and enough R bins exist.
  const e0 = 9000;
  const npre = 101;
  const n = npre + 5000;
  const e = new Float64Array(n);
  const m = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const k = i < npre ? 0 : 0.3 + ((i - npre) * 24) / 5000;
    e[i] = i < npre ? e0 - 100 + i : e0 + (k * k) / 0.2624684236075176;
    m[i] = (i < npre ? 0 : 1 - Math.exp(-k)) + 0.05 * Math.sin(5 * k) * Math.exp(-0.01 * k * k);
  }
  const res = autobk(e, m, { e0, edgeStep: 1, nknots: 500, rbkg: 3.5, nclamp: 0 });
  expect(res.details.nspl).toBe(128);
  expect(res.details.warnings.join()).toMatch(/nknots = 500 clipped to 128/);
  for (const v of res.chi) expect(Number.isFinite(v)).toBe(true);
});

test('fewer than 10 points above e0 is an error', () => {
  const e0 = energy[energy.length - 8]!;
  expect(() => autobk(energy, mu, { e0, edgeStep: 1 })).toThrow(/only 7 energy points above e0/);
});

test('an empty or comment-only file is an error naming the file', () => {
  expect(() => readSpectrum('', { fileName: 'empty.xmu' })).toThrow(/empty\.xmu: no numeric data rows/);
  expect(() => readSpectrum('# just a header\n# energy mu\n', { fileName: 'h.dat' })).toThrow(/h\.dat: no numeric data rows/);
});

test('energies too dense to separate are an error', () => {
  const e = Float64Array.from([...energy.slice(0, 100), energy[99]! + 1e-4, energy[99]! + 2e-4, energy[99]! + 8e-4, ...energy.slice(100)]);
  const m = Float64Array.from([...mu.slice(0, 100), mu[99]!, mu[99]!, mu[99]!, ...mu.slice(100)]);
  expect(() => autobk(e, m, opts)).toThrow(/closer than 0.0005 eV/);
});

test('all-NaN and too-short spectra are errors, not crashes', () => {
  expect(() => autobk([1, 2, 3], [NaN, NaN, NaN])).toThrow(/no row has a finite energy and mu/);
  expect(() => autobk([1, 2, 3, 4, 5], [1, 2, 3, 4, 5])).toThrow(/at least 10/);
  expect(() => autobk(energy, mu.subarray(1))).toThrow(/energy has 408 points but mu has 407/);
  expect(() => autobk(energy, mu, { ...opts, rbkg: -1 })).toThrow(/rbkg = -1/);
  expect(() => autobk(energy, mu, { ...opts, win: 'box' })).toThrow(/win = 'box'/);
  expect(() => autobk(energy, mu, { ...opts, kmin: 20 })).toThrow(/kmin = 20 must be below kmax/);
});
