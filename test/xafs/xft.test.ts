/** xftf/xftr against direct evaluation of Larch's transform sums; window shapes. */
import { describe, expect, test } from 'vitest';
import { ftwindow, xftf, xftr } from '../../src/xafs/index.js';
import { loadReference, maxAbs } from './fixtures.js';

const ref = loadReference('cu_rt01');

test('xftf of Larch’s chi equals the direct transform sum within 1e-9', () => {
  const opts = { kmin: 2, kmax: 15, kweight: 2, dk: 1, window: 'hanning' as const, nfft: 2048, kstep: 0.05 };
  const out = xftf(ref.k, ref.chi, opts);
  const win = ftwindow(ref.k, { xmin: 2, xmax: 15, dx: 1, window: 'hanning' });
  const nk = ref.k.length;
  const rstep = Math.PI / (0.05 * 2048);
  expect(out.r.length).toBe(Math.trunc(1.01 + 10 / rstep));
  let maxErr = 0;
  const direct = new Float64Array(2 * out.r.length);
  for (let m = 0; m < out.r.length; m++) {
    let re = 0;
    let im = 0;
    for (let n = 0; n < nk; n++) {
      const k = n * 0.05;
      const v = ref.chi[n]! * k * k * win[n]!;
      re += v * Math.cos(2 * k * m * rstep);
      im -= v * Math.sin(2 * k * m * rstep);
    }
    direct[2 * m] = (0.05 / Math.sqrt(Math.PI)) * re;
    direct[2 * m + 1] = (0.05 / Math.sqrt(Math.PI)) * im;
  }
  for (let m = 0; m < out.r.length; m++) {
    maxErr = Math.max(maxErr, Math.abs(out.chirRe[m]! - direct[2 * m]!), Math.abs(out.chirIm[m]! - direct[2 * m + 1]!));
    expect(out.chirMag[m]).toBeCloseTo(Math.hypot(direct[2 * m]!, direct[2 * m + 1]!), 12);
  }
  expect(maxErr).toBeLessThanOrEqual(1e-9 * maxAbs(direct));
});

test('xftr equals the direct back-transform sum within 1e-9', () => {
  const f = xftf(ref.k, ref.chi, { kmin: 2, kmax: 15, kweight: 2, dk: 1, window: 'hanning', rmaxOut: 12 });
  const opts = { rmin: 1, rmax: 3, dr: 0.5, window: 'hanning' as const, qmaxOut: 20 };
  const back = xftr(f.r, f.chirRe, f.chirIm, opts);
  const rstep = f.r[1]!;
  const win = ftwindow(f.r, { xmin: 1, xmax: 3, dx: 0.5, window: 'hanning' });
  const kstep = Math.PI / (rstep * 2048);
  let maxErr = 0;
  let maxVal = 0;
  for (let j = 0; j < back.q.length; j += 7) {
    const q = back.q[j]!;
    expect(Math.abs(q - j * kstep)).toBeLessThan(1e-3);
    let re = 0;
    let im = 0;
    for (let m = 0; m < f.r.length; m++) {
      const ph = 2 * (j * kstep) * (m * rstep);
      const cr = f.chirRe[m]! * win[m]!;
      const ci = f.chirIm[m]! * win[m]!;
      re += cr * Math.cos(ph) - ci * Math.sin(ph);
      im += cr * Math.sin(ph) + ci * Math.cos(ph);
    }
    const s = (0.5 * 4 * Math.sqrt(Math.PI)) / kstep / 2048;
    maxErr = Math.max(maxErr, Math.abs(back.chiqRe[j]! - s * re), Math.abs(back.chiqIm[j]! - s * im));
    maxVal = Math.max(maxVal, Math.abs(s * re), Math.abs(s * im));
  }
  expect(maxErr).toBeLessThanOrEqual(1e-9 * maxVal);
});

describe('ftwindow', () => {
  const x = Float64Array.from({ length: 401 }, (_, i) => i * 0.05);
  test.each(['hanning', 'parzen', 'welch', 'sine'])('%s: 0 outside, 1 on the plateau, tapers within [0, 1]', (window) => {
    const w = ftwindow(x, { xmin: 3, xmax: 15, dx: 2, window });
    for (let i = 0; i < x.length; i++) {
      const xi = x[i]!;
      expect(w[i]).toBeGreaterThanOrEqual(-1e-12);
      expect(w[i]).toBeLessThanOrEqual(1 + 1e-12);
      if (xi < 1.95 || xi > 16.05) expect(w[i]).toBe(0);
      if (window !== 'sine' && xi > 4.05 && xi < 13.95) expect(w[i]).toBe(1);
    }
    // Symmetric about the window centre (equal tapers).
    expect(w[Math.round(2.5 / 0.05)]).toBeCloseTo(w[Math.round(15.5 / 0.05)]!, 12);
  });
  test('hanning values are sin² ramps', () => {
    const w = ftwindow(x, { xmin: 3, xmax: 15, dx: 2, window: 'hanning' });
    expect(w[Math.round(3 / 0.05)]).toBeCloseTo(Math.sin(Math.PI / 4) ** 2, 3);
  });
  test('kaiser and gaussian are smooth bells centred on the range', () => {
    const k = ftwindow(x, { xmin: 3, xmax: 15, dx: 4, window: 'kaiser' });
    const g = ftwindow(x, { xmin: 3, xmax: 15, dx: 4, window: 'gaussian' });
    expect(k[Math.round(9 / 0.05)]).toBeCloseTo(1, 12);
    expect(k[Math.round(1 / 0.05)]).toBeCloseTo(0, 12);
    expect(k[Math.round(5 / 0.05)]).toBeCloseTo(k[Math.round(13 / 0.05)]!, 12);
    expect(g[Math.round(9 / 0.05)]).toBeCloseTo(1, 12);
    expect(g[Math.round(13 / 0.05)]).toBeCloseTo(Math.exp(-16 / 32), 12);
  });
  test('unknown window names are rejected', () => {
    expect(() => ftwindow(x, { window: 'triangle' })).toThrow(/window = 'triangle'/);
  });
});
