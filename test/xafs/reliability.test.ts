/**
 * Issue 13 (XAFS part): each reproducer gives an error naming the field, its value and the
 * allowed range, or the correct result, quickly and without large allocations.
 */
import { describe, expect, it } from 'vitest';
import { autobk, autobkBatch, ftwindow, preEdge, xftf } from '../../src/xafs/index.js';
import { loadReference, loadSpectrum } from './fixtures.js';

const { energy: E, mu: MU } = loadSpectrum(loadReference('cu_rt01'));
const k = Float64Array.from({ length: 350 }, (_, i) => 0.05 * i);
const chi = Float64Array.from(k, (v) => Math.sin(2 * v) * Math.exp(-0.01 * v * v));

/** Peak RSS of the process so far, MB (it only grows: a case that allocates more shows). */
const peakMb = (): number => process.resourceUsage().maxRSS / 1024;

/** Runs f, which must finish within a second and raise the peak RSS by less than 256 MB. */
function quick<T>(f: () => T): T {
  const t0 = performance.now();
  const m0 = peakMb();
  try {
    return f();
  } finally {
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(peakMb() - m0).toBeLessThan(256);
  }
}

async function batchRecords(spectra: { energy: ArrayLike<number>; mu: ArrayLike<number> }[], options = {}) {
  return (await autobkBatch(spectra, options, { device: 'cpu', workers: 0 })).toRecords();
}

describe('High 1: one bad spectrum never takes down a CPU batch', () => {
  for (const last of [1e300, 1e16]) {
    it(`an energy of ${last} eV: that item's own error naming kmax, the other converges`, async () => {
      const t0 = performance.now();
      const m0 = peakMb();
      const [good, bad] = await batchRecords([{ energy: E, mu: MU }, { energy: [...E.slice(0, -1), last], mu: MU }]);
      expect(performance.now() - t0).toBeLessThan(1000);
      expect(peakMb() - m0).toBeLessThan(256);
      expect(good!.status).toBe('converged');
      expect(bad!.status).toBe('error');
      expect(bad!.status === 'error' && bad!.error).toMatch(/kmax = .* must be at most 100 Å⁻¹/);
      expect(() => autobk([...E.slice(0, -1), last], MU)).toThrow(/kmax = .* must be at most 100 Å⁻¹/);
    });
  }

  it('kstep = 1e-7: the same verdict from autobk and autobkBatch, at once', async () => {
    const message = 'autobk: kstep = 1e-7 must be a number in [0.001, 1] Å⁻¹';
    expect(() => quick(() => autobk(E, MU, { kstep: 1e-7 }))).toThrow(message);
    const [r] = await batchRecords([{ energy: E, mu: MU }], { kstep: 1e-7 });
    expect(r!.status === 'error' && r!.error).toBe(message);
  });
});

describe('High 3: window widths are bounded (no endless loop)', () => {
  it('autobk dk = 1e300', () => expect(() => quick(() => autobk(E, MU, { dk: 1e300 }))).toThrow(/dk = 1e\+300 must be a number in \[0, 100\]/));
  it('xftf dk = 1e300', () => expect(() => quick(() => xftf(k, chi, { dk: 1e300 }))).toThrow(/xftf: dk = 1e\+300 must be a number in \[0, 100\]/));
  it('ftwindow dx = 1e300', () => expect(() => quick(() => ftwindow(k, { dx: 1e300 }))).toThrow(/ftwindow: dx = 1e\+300 must be a number in \[0, 100\]/));
  it('a sill wider than the grid still gives a finite window', () => {
    for (const window of ['hanning', 'parzen', 'welch', 'kaiser', 'gaussian', 'sine']) {
      const w = ftwindow(k, { xmin: 2, xmax: 15, dx: 100, window });
      expect(w.every(Number.isFinite)).toBe(true);
    }
    const res = autobk(E, MU, { dk: 100 });
    expect(res.chi.every(Number.isFinite)).toBe(true);
  });
});

describe('Medium 6: no silent NaN or floor', () => {
  it('preEdge nvict = 100', () => expect(() => preEdge(E, MU, { nvict: 100 })).toThrow('preEdge: nvict = 100 must be a number in [-5, 5]'));
  it('preEdge step = 0', () => expect(() => preEdge(E, MU, { step: 0 })).toThrow('preEdge: step = 0 must be a number in (0, ∞)'));
  it('autobk kweight = 100', () => expect(() => quick(() => autobk(E, MU, { kweight: 100 }))).toThrow('autobk: kweight = 100 must be a number in [0, 5]'));
  it('xftf kweight = NaN', () => expect(() => xftf(k, chi, { kweight: NaN })).toThrow('xftf: kweight = NaN must be a number in [0, 5]'));
  it('preEdge nvict with energies ≤ 0 names nvict', () => {
    expect(() => preEdge(Float64Array.from(E, (v) => v - 8980), MU, { e0: 0, nvict: 0.5 })).toThrow(/nvict = 0.5 needs energies > 0/);
  });
});

describe('Medium 7: a dead channel is an error, not converged', () => {
  const flat = new Float64Array(E.length).fill(0.7);
  it('autobk and preEdge', () => {
    expect(() => autobk(E, flat)).toThrow(/edge step = .* no edge in μ/);
    expect(() => preEdge(E, flat)).toThrow(/edge step = .* no edge in μ/);
    expect(() => autobk(E, new Float64Array(E.length))).toThrow(/μ is 0 everywhere/);
  });
  it('an item of a CPU batch', async () => {
    const [good, dead] = await batchRecords([{ energy: E, mu: MU }, { energy: E, mu: flat }]);
    expect(good!.status).toBe('converged');
    expect(dead!.status === 'error' && dead!.error).toMatch(/no edge in μ/);
  });
  it('a given edge step within rounding of μ', () => {
    expect(() => autobk(E, MU, { edgeStep: 1e-14 })).toThrow(/edgeStep = 1e-14 must be finite with \|edgeStep\| > /);
  });
});

describe('Medium 9 and 10: errors name the field; options never size an allocation unchecked', () => {
  it('kweight = -1', () => expect(() => autobk(E, MU, { kweight: -1 })).toThrow('autobk: kweight = -1 must be a number in [0, 5]'));
  it('rbkg = 1e-9', () => expect(() => autobk(E, MU, { rbkg: 1e-9 })).toThrow(/rbkg = 1e-9 Å gives 1 R bins .* rbkg must be at least about 0\.0898 Å/));
  it('nfft = 1000', () => expect(() => autobk(E, MU, { nfft: 1000 })).toThrow('autobk: nfft = 1000 must be a power of two in [256, 65536]'));
  it('nfft = 2^27', () => expect(() => quick(() => autobk(E, MU, { nfft: 2 ** 27 }))).toThrow(/nfft = 134217728 must be a power of two/));
  it('xftf kmax = 1e7', () => expect(() => quick(() => xftf(k, chi, { kmax: 1e7 }))).toThrow('xftf: kmax = 10000000 must be a number in [0, 100] Å⁻¹'));
  it('rbkg just above the bound fits', () => {
    expect(autobk(E, MU, { rbkg: 0.09 }).chi.every(Number.isFinite)).toBe(true);
  });
});

describe('Low: wrong-typed arguments are named errors, not engine TypeErrors', () => {
  it('autobk(null, mu)', () => expect(() => autobk(null as never, MU)).toThrow('autobk: energy must be an array or typed array of numbers, got null'));
  it('win = 5', () => expect(() => autobk(E, MU, { win: 5 as never })).toThrow('autobk: win = 5 must be one of hanning'));
  it('energy as a string', () => expect(() => preEdge('8979,8980' as never, MU)).toThrow("preEdge: energy must be an array or typed array of numbers, got '8979,8980'"));
  it('options not an object', () => expect(() => autobk(E, MU, 3 as never)).toThrow('autobk: options must be an object, got 3'));
});

describe('a fit that diverges is an error, not NaN', () => {
  // Found by the fuzz suite (seed 20261202): no clamps and a Gaussian window leave the spline's
  // ends unconstrained, its coefficients grow until bkg overflows at one point.
  const bad = { kweight: 0, win: 'gaussian' as const, nfft: 512, clampLo: 5e-324, clampHi: 0, kmin: 1.2014215688961982, nknots: 18, e0: 9038.631462981628 };
  it('autobk and a CPU batch give the named error', async () => {
    const energy = E;
    const mu = MU;
    expect(() => autobk(energy, mu, bad)).toThrow(/autobk: the fit diverged \(bkg\[\d+\] = (NaN|-?Infinity)\) with nknots = 18/);
    const { e0, ...options } = bad;
    const res = await autobkBatch([{ energy, mu, e0 }, { energy, mu }], options, { device: 'cpu', workers: 0 });
    const first = res.at(0)!;
    expect(first.status === 'error' ? first.error : first.status).toMatch(/the fit diverged/);
  });
});
