import { describe, expect, it } from 'vitest';
import { complexFftPlan, irfft, realFftPlan, rfft } from '../../src/math/fft.js';
import { mulberry32 } from '../util/random.js';

/** Direct O(n²) DFT in float64 with exact angle reduction, the reference for every size. */
function directDft(x: Float64Array): Float64Array {
  const n = x.length;
  const out = new Float64Array(n + 2);
  for (let k = 0; k <= n / 2; k++) {
    let re = 0;
    let im = 0;
    for (let j = 0; j < n; j++) {
      const a = (-2 * Math.PI * ((k * j) % n)) / n;
      re += x[j]! * Math.cos(a);
      im += x[j]! * Math.sin(a);
    }
    out[2 * k] = re;
    out[2 * k + 1] = im;
  }
  return out;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, len = a.length): number {
  let m = 0;
  for (let i = 0; i < len; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('real FFT (CPU, float64)', () => {
  // The direct DFT's own rounding grows like sqrt(n)·eps·max|X|; 1e-12 relative leaves ample room.
  for (const n of [16, 32, 64, 128, 256, 512, 1024, 2048, 4096]) {
    it(`matches a direct DFT within 1e-12 relative, n = ${n}`, () => {
      const rnd = mulberry32(n);
      const x = Float64Array.from({ length: n }, () => rnd() - 0.5);
      const got = rfft(x);
      const ref = directDft(x);
      expect(maxAbsDiff(got, ref)).toBeLessThanOrEqual(1e-12 * maxAbs(ref));
    });
  }

  for (const n of [16, 2048, 65536]) {
    it(`round trip irfft(rfft(x)) = x within 1e-14, n = ${n}`, () => {
      const rnd = mulberry32(7 * n);
      const x = Float64Array.from({ length: n }, () => rnd() - 0.5);
      expect(maxAbsDiff(irfft(rfft(x)), x)).toBeLessThan(1e-14);
    });
  }

  it('zero-pads short input exactly like an explicit zero tail', () => {
    const rnd = mulberry32(3);
    const short = Float64Array.from({ length: 301 }, () => rnd());
    const padded = new Float64Array(2048);
    padded.set(short);
    expect(maxAbsDiff(rfft(short, 2048), rfft(padded))).toBe(0);
  });

  it('reuses caller-provided output without allocating per call', () => {
    const plan = realFftPlan(2048);
    expect(realFftPlan(2048)).toBe(plan);
    const x = new Float64Array(2048).fill(1);
    const out = new Float64Array(2050);
    plan.forward(x, out);
    expect(out[0]).toBe(2048);
    expect(maxAbs(out.subarray(2))).toBeLessThan(1e-12);
  });

  it('rejects sizes that are not powers of two, and short outputs', () => {
    expect(() => realFftPlan(1000)).toThrow(/power of two.*1000/);
    expect(() => realFftPlan(2048).forward(new Float64Array(2048), new Float64Array(10))).toThrow(/2050/);
    expect(() => realFftPlan(16).forward(new Float64Array(17), new Float64Array(18))).toThrow(/17/);
  });
});

describe('complex FFT (CPU, float64)', () => {
  for (const m of [2, 4, 8, 64, 512, 1024, 2048]) {
    it(`forward matches the real FFT of real data and inverts, m = ${m}`, () => {
      const rnd = mulberry32(m + 11);
      const re = Float64Array.from({ length: m }, () => rnd() - 0.5);
      const im = Float64Array.from({ length: m }, () => rnd() - 0.5);
      const plan = complexFftPlan(m);
      const outRe = new Float64Array(m);
      const outIm = new Float64Array(m);
      // Linearity check against two real DFTs: X = DFT(re) + i·DFT(im).
      if (m >= 4) {
        plan.transform(re, im, outRe, outIm);
        const a = directDft(re);
        const b = directDft(im);
        let err = 0;
        for (let k = 0; k <= m / 2; k++) {
          err = Math.max(err, Math.abs(outRe[k]! - (a[2 * k]! - b[2 * k + 1]!)), Math.abs(outIm[k]! - (a[2 * k + 1]! + b[2 * k]!)));
        }
        expect(err).toBeLessThanOrEqual(1e-12 * (maxAbs(a) + maxAbs(b)));
      }
      plan.transform(re, im, outRe, outIm);
      plan.transform(outRe, outIm, outRe, outIm, true);
      expect(maxAbsDiff(outRe, re)).toBeLessThan(1e-14);
      expect(maxAbsDiff(outIm, im)).toBeLessThan(1e-14);
    });
  }
});
