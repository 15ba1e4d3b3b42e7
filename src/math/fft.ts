/**
 * Float64 FFTs for power-of-two sizes, numpy conventions: forward unscaled, inverse scaled by 1/n.
 *
 * Why our own rather than fft.js: a real transform of n points is done as one complex transform
 * of n/2 points (even samples in the real part, odd in the imaginary part) followed by a split
 * step, with split re/im arrays and per-stage contiguous twiddle tables for radix-4 passes. That
 * halves the work of a real input and keeps the inner loops free of strided twiddle look-ups;
 * bench/fft.bench.ts measures it against fft.js's figure quoted in the README.
 *
 * Plans own their twiddles and scratch arrays, so a call that is given its output arrays
 * allocates nothing. Plans are cached per size by `realFftPlan` / `complexFftPlan`.
 */

const MIN_LOG2 = 1;
const MAX_LOG2 = 24;

function log2Exact(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 2 ** MIN_LOG2 || n > 2 ** MAX_LOG2 || (n & (n - 1)) !== 0) {
    throw new RangeError(`${what} must be a power of two between ${2 ** MIN_LOG2} and ${2 ** MAX_LOG2}, got ${n}`);
  }
  return Math.round(Math.log2(n));
}

/**
 * First pass fused with the bit-reversal load: reads z[j] = (src[2j], src[2j+1]) in bit-reversed
 * order and writes the first butterflies (radix 4, or radix 2 when log2 m is odd; all twiddles
 * are 1) sequentially. A real signal of 2m samples is already such an interleaved z, so the real
 * transform reads its input directly.
 */
function firstPass(src: Float64Array, re: Float64Array, im: Float64Array, m: number, rev: Uint32Array, radix2: boolean): void {
  if (radix2) {
    const h = m >> 1;
    for (let i0 = 0; i0 < m; i0 += 2) {
      const r0 = 2 * rev[i0]!, r1 = r0 + 2 * h;
      const ar = src[r0]!, ai = src[r0 + 1]!, br = src[r1]!, bi = src[r1 + 1]!;
      re[i0] = ar + br;
      im[i0] = ai + bi;
      re[i0 + 1] = ar - br;
      im[i0 + 1] = ai - bi;
    }
    return;
  }
  // rev(i0+1) = rev(i0) + m/2, rev(i0+2) = rev(i0) + m/4, rev(i0+3) = rev(i0) + 3m/4.
  const q1 = m >> 1, q2 = m >> 2;
  for (let i0 = 0; i0 < m; i0 += 4) {
    const r0 = 2 * rev[i0]!, r1 = r0 + q1 * 2, r2 = r0 + q2 * 2, r3 = r1 + q2 * 2;
    const b0r = src[r0]!, b0i = src[r0 + 1]!;
    const b1r = src[r1]!, b1i = src[r1 + 1]!;
    const b2r = src[r2]!, b2i = src[r2 + 1]!;
    const b3r = src[r3]!, b3i = src[r3 + 1]!;
    const sr = b0r + b1r, si = b0i + b1i;
    const dr = b0r - b1r, di = b0i - b1i;
    const pr = b2r + b3r, pi = b2i + b3i;
    const mr = b2i - b3i, mi = b3r - b2r;
    re[i0] = sr + pr;
    im[i0] = si + pi;
    re[i0 + 1] = dr + mr;
    im[i0 + 1] = di + mi;
    re[i0 + 2] = sr - pr;
    im[i0 + 2] = si - pi;
    re[i0 + 3] = dr - mr;
    im[i0 + 3] = di - mi;
  }
}

/**
 * One radix-4 decimation-in-time pass combining four sub-transforms of q points each
 * (W = e^{-2πi/4q}). Block i1 holds the DFT of the samples 4n+2 (twiddle W^2k), block i2 those
 * of 4n+1 (W^k), block i3 those of 4n+3 (W^3k).
 */
function radix4Stage(re: Float64Array, im: Float64Array, m: number, q: number, t: Float64Array): void {
  const len = 4 * q;
  for (let j = 0; j < m; j += len) {
    for (let k = 0, i0 = j; k < q; k++, i0++) {
      const i1 = i0 + q, i2 = i1 + q, i3 = i2 + q;
      const tk = 6 * k;
      const c1 = t[tk]!, s1 = t[tk + 1]!, c2 = t[tk + 2]!, s2 = t[tk + 3]!, c3 = t[tk + 4]!, s3 = t[tk + 5]!;
      const b0r = re[i0]!, b0i = im[i0]!;
      const x1r = re[i1]!, x1i = im[i1]!;
      const b1r = x1r * c2 - x1i * s2, b1i = x1r * s2 + x1i * c2;
      const x2r = re[i2]!, x2i = im[i2]!;
      const b2r = x2r * c1 - x2i * s1, b2i = x2r * s1 + x2i * c1;
      const x3r = re[i3]!, x3i = im[i3]!;
      const b3r = x3r * c3 - x3i * s3, b3i = x3r * s3 + x3i * c3;
      const sr = b0r + b1r, si = b0i + b1i;
      const dr = b0r - b1r, di = b0i - b1i;
      const pr = b2r + b3r, pi = b2i + b3i;
      // (-i)(b2 - b3)
      const mr = b2i - b3i, mi = b3r - b2r;
      re[i0] = sr + pr;
      im[i0] = si + pi;
      re[i1] = dr + mr;
      im[i1] = di + mi;
      re[i2] = sr - pr;
      im[i2] = si - pi;
      re[i3] = dr - mr;
      im[i3] = di - mi;
    }
  }
}

const SQRT1_2 = Math.SQRT1_2;

/**
 * One radix-8 decimation-in-time pass combining eight sub-transforms of q points each
 * (W = e^{-2πi/8q}). With bit-reversed input, the block at offset p·q holds the DFT of the
 * samples 8n + rev3(p), so B_r = W^{kr}·block[rev3(r)] feeds an 8-point DFT whose output s goes
 * to offset s·q. Fewer passes than radix 4 means fewer twiddle multiplications and array
 * round trips, which is what a JIT-compiled loop pays for.
 */
function radix8Stage(re: Float64Array, im: Float64Array, m: number, q: number, t: Float64Array): void {
  const len = 8 * q;
  for (let j = 0; j < m; j += len) {
    for (let k = 0, i0 = j; k < q; k++, i0++) {
      const tk = 14 * k;
      const p1 = i0 + q, p2 = p1 + q, p3 = p2 + q, p4 = p3 + q, p5 = p4 + q, p6 = p5 + q, p7 = p6 + q;
      const b0r = re[i0]!, b0i = im[i0]!;
      let xr = re[p4]!, xi = im[p4]!;
      let c = t[tk]!, sn = t[tk + 1]!;
      const b1r = xr * c - xi * sn, b1i = xr * sn + xi * c;
      xr = re[p2]!; xi = im[p2]!; c = t[tk + 2]!; sn = t[tk + 3]!;
      const b2r = xr * c - xi * sn, b2i = xr * sn + xi * c;
      xr = re[p6]!; xi = im[p6]!; c = t[tk + 4]!; sn = t[tk + 5]!;
      const b3r = xr * c - xi * sn, b3i = xr * sn + xi * c;
      xr = re[p1]!; xi = im[p1]!; c = t[tk + 6]!; sn = t[tk + 7]!;
      const b4r = xr * c - xi * sn, b4i = xr * sn + xi * c;
      xr = re[p5]!; xi = im[p5]!; c = t[tk + 8]!; sn = t[tk + 9]!;
      const b5r = xr * c - xi * sn, b5i = xr * sn + xi * c;
      xr = re[p3]!; xi = im[p3]!; c = t[tk + 10]!; sn = t[tk + 11]!;
      const b6r = xr * c - xi * sn, b6i = xr * sn + xi * c;
      xr = re[p7]!; xi = im[p7]!; c = t[tk + 12]!; sn = t[tk + 13]!;
      const b7r = xr * c - xi * sn, b7i = xr * sn + xi * c;
      // Even half: 4-point DFT of B0, B2, B4, B6.
      const a0r = b0r + b4r, a0i = b0i + b4i, a1r = b0r - b4r, a1i = b0i - b4i;
      const a2r = b2r + b6r, a2i = b2i + b6i, a3r = b2i - b6i, a3i = b6r - b2r;
      const e0r = a0r + a2r, e0i = a0i + a2i, e2r = a0r - a2r, e2i = a0i - a2i;
      const e1r = a1r + a3r, e1i = a1i + a3i, e3r = a1r - a3r, e3i = a1i - a3i;
      // Odd half: 4-point DFT of B1, B3, B5, B7, then ω8^s.
      const c0r = b1r + b5r, c0i = b1i + b5i, c1r = b1r - b5r, c1i = b1i - b5i;
      const c2r = b3r + b7r, c2i = b3i + b7i, c3r = b3i - b7i, c3i = b7r - b3r;
      const o0r = c0r + c2r, o0i = c0i + c2i, o2r = c0r - c2r, o2i = c0i - c2i;
      const u1r = c1r + c3r, u1i = c1i + c3i, u3r = c1r - c3r, u3i = c1i - c3i;
      // ω8 = (1 - i)/√2, ω8² = -i, ω8³ = -(1 + i)/√2.
      const o1r = (u1r + u1i) * SQRT1_2, o1i = (u1i - u1r) * SQRT1_2;
      const w2r = o2i, w2i = -o2r;
      const o3r = (u3i - u3r) * SQRT1_2, o3i = -(u3r + u3i) * SQRT1_2;
      re[i0] = e0r + o0r;
      im[i0] = e0i + o0i;
      re[p4] = e0r - o0r;
      im[p4] = e0i - o0i;
      re[p1] = e1r + o1r;
      im[p1] = e1i + o1i;
      re[p5] = e1r - o1r;
      im[p5] = e1i - o1i;
      re[p2] = e2r + w2r;
      im[p2] = e2i + w2i;
      re[p6] = e2r - w2r;
      im[p6] = e2i - w2i;
      re[p3] = e3r + o3r;
      im[p3] = e3i + o3i;
      re[p7] = e3r - o3r;
      im[p7] = e3i - o3i;
    }
  }
}

interface Pass {
  radix: 4 | 8;
  q: number;
  /** For k < q and r = 1..radix-1: cos and sin of -2π·k·r/(radix·q). */
  twiddles: Float64Array;
}

function makePass(radix: 4 | 8, q: number): Pass {
  const per = 2 * (radix - 1);
  const t = new Float64Array(per * q);
  const step = (-2 * Math.PI) / (radix * q);
  for (let k = 0; k < q; k++) {
    for (let r = 1; r < radix; r++) {
      t[per * k + 2 * (r - 1)] = Math.cos(step * k * r);
      t[per * k + 2 * (r - 1) + 1] = Math.sin(step * k * r);
    }
  }
  return { radix, q, twiddles: t };
}

/** Complex FFT of m points on split re/im arrays. */
export class ComplexFftPlan {
  /** Number of complex points (a power of two). */
  readonly m: number;
  private readonly rev: Uint32Array;
  private readonly leadingRadix2: boolean;
  /** Passes after the fused first one: radix 8 where the size allows, radix 4 for the rest. */
  private readonly passes: Pass[];
  /** Interleaved input staging (2m) for the fused first pass. */
  private readonly packed: Float64Array;

  constructor(m: number) {
    const bits = log2Exact(m, 'complex FFT size');
    this.m = m;
    this.rev = new Uint32Array(m);
    for (let i = 0; i < m; i++) {
      let r = 0;
      for (let b = 0, v = i; b < bits; b++, v >>= 1) r = (r << 1) | (v & 1);
      this.rev[i] = r;
    }
    this.leadingRadix2 = bits % 2 === 1 || m < 4;
    this.passes = [];
    let q = this.leadingRadix2 ? 2 : 4;
    let bitsLeft = bits - Math.log2(q);
    if (m >= 4) {
      // bitsLeft is even; take 2-bit passes until the rest is a multiple of 3.
      while (bitsLeft % 3 !== 0) {
        this.passes.push(makePass(4, q));
        q *= 4;
        bitsLeft -= 2;
      }
      for (; bitsLeft > 0; bitsLeft -= 3, q *= 8) this.passes.push(makePass(8, q));
    }
    this.packed = new Float64Array(2 * m);
  }

  /**
   * Forward (or, with `inverse`, inverse and scaled by 1/m) transform. Inputs and outputs may be
   * the same arrays. Input arrays shorter than m are zero-padded.
   */
  transform(
    re: ArrayLike<number>,
    im: ArrayLike<number> | null,
    outRe: Float64Array,
    outIm: Float64Array,
    inverse = false,
  ): void {
    const m = this.m;
    if (outRe.length < m || outIm.length < m) {
      throw new RangeError(`output arrays must hold ${m} values, got ${outRe.length} and ${outIm.length}`);
    }
    if (re.length > m || (im !== null && im.length > m)) {
      throw new RangeError(`input longer than the transform size ${m}`);
    }
    const z = this.packed;
    z.fill(0);
    // The inverse transform is the forward transform with re and im swapped on both sides.
    const a = inverse ? im : re;
    const b = inverse ? re : im;
    if (a !== null) for (let i = 0; i < a.length; i++) z[2 * i] = a[i]!;
    if (b !== null) for (let i = 0; i < b.length; i++) z[2 * i + 1] = b[i]!;
    const xr = inverse ? outIm : outRe;
    const xi = inverse ? outRe : outIm;
    this.run(z, xr, xi);
    if (inverse) {
      const s = 1 / m;
      for (let i = 0; i < m; i++) {
        outRe[i]! *= s;
        outIm[i]! *= s;
      }
    }
  }

  /** Transform of the interleaved complex sequence `z` (2m values) into natural-order re/im. */
  run(z: Float64Array, re: Float64Array, im: Float64Array): void {
    const m = this.m;
    firstPass(z, re, im, m, this.rev, this.leadingRadix2);
    for (const p of this.passes) {
      if (p.radix === 8) radix8Stage(re, im, m, p.q, p.twiddles);
      else radix4Stage(re, im, m, p.q, p.twiddles);
    }
  }
}

/**
 * Real-input FFT of n points. The spectrum is interleaved complex, bins 0..n/2 inclusive:
 * `out[2k] = Re X[k]`, `out[2k+1] = Im X[k]`, length n + 2.
 */
export class RealFftPlan {
  /** Number of real points (a power of two). */
  readonly n: number;
  private readonly half: ComplexFftPlan;
  /** cos/sin of -2πk/n for k ≤ n/2, the split step's twiddles. */
  private readonly splitCos: Float64Array;
  private readonly splitSin: Float64Array;
  private readonly zr: Float64Array;
  private readonly zi: Float64Array;
  /** Zero-padded copy of a short or non-Float64Array input; also the inverse's packed spectrum. */
  private readonly padded: Float64Array;

  constructor(n: number) {
    log2Exact(n, 'real FFT size');
    if (n < 4) throw new RangeError(`real FFT size must be at least 4, got ${n}`);
    this.n = n;
    const m = n / 2;
    this.half = new ComplexFftPlan(m);
    this.splitCos = new Float64Array(m + 1);
    this.splitSin = new Float64Array(m + 1);
    for (let k = 0; k <= m; k++) {
      this.splitCos[k] = Math.cos((-2 * Math.PI * k) / n);
      this.splitSin[k] = Math.sin((-2 * Math.PI * k) / n);
    }
    this.zr = new Float64Array(m);
    this.zi = new Float64Array(m);
    this.padded = new Float64Array(n);
  }

  /** Forward transform of `x` (zero-padded to n when shorter) into `out` (length ≥ n + 2). */
  forward(x: ArrayLike<number>, out: Float64Array): void {
    const n = this.n;
    const m = n / 2;
    if (x.length > n) throw new RangeError(`input length ${x.length} exceeds the FFT size ${n}`);
    if (out.length < n + 2) throw new RangeError(`output must hold ${n + 2} values, got ${out.length}`);
    let src: Float64Array;
    if (x instanceof Float64Array && x.length === n) {
      src = x;
    } else {
      src = this.padded;
      for (let i = 0; i < x.length; i++) src[i] = x[i]!;
      src.fill(0, x.length);
    }
    const zr = this.zr;
    const zi = this.zi;
    this.half.run(src, zr, zi);
    // X[k] = E[k] + W^k O[k], E = (Z[k] + conj Z[m-k])/2, O = (Z[k] - conj Z[m-k])/(2i).
    out[0] = zr[0]! + zi[0]!;
    out[1] = 0;
    out[2 * m] = zr[0]! - zi[0]!;
    out[2 * m + 1] = 0;
    const c = this.splitCos;
    const s = this.splitSin;
    for (let k = 1; k <= m >> 1; k++) {
      const j = m - k;
      const ar = zr[k]!, ai = zi[k]!, br = zr[j]!, bi = zi[j]!;
      const er = 0.5 * (ar + br), ei = 0.5 * (ai - bi);
      const or = 0.5 * (ai + bi), oi = 0.5 * (br - ar);
      const ck = c[k]!, sk = s[k]!;
      const tr = or * ck - oi * sk, ti = or * sk + oi * ck;
      out[2 * k] = er + tr;
      out[2 * k + 1] = ei + ti;
      // Bin m-k uses conj(E) and W^(m-k) = -conj(W^k) applied to conj(O).
      out[2 * j] = er - tr;
      out[2 * j + 1] = ti - ei;
    }
  }

  /** Inverse of `forward`: Hermitian spectrum (bins 0..n/2, interleaved) → n real samples, scaled by 1/n. */
  inverse(spectrum: ArrayLike<number>, out: Float64Array): void {
    const n = this.n;
    const m = n / 2;
    if (spectrum.length < n + 2) throw new RangeError(`spectrum must hold ${n + 2} values, got ${spectrum.length}`);
    if (out.length < n) throw new RangeError(`output must hold ${n} values, got ${out.length}`);
    const z = this.padded;
    const c = this.splitCos;
    const s = this.splitSin;
    // Z[k] = E[k] + i O[k] with E = (X[k] + conj X[m-k])/2 and O = (X[k] - conj X[m-k]) conj(W^k)/2,
    // stored conjugated so that the forward butterflies give the inverse (conj(FFT(conj Z))).
    for (let k = 0; k < m; k++) {
      const j = m - k;
      const ar = spectrum[2 * k]!, ai = spectrum[2 * k + 1]!;
      const br = spectrum[2 * j]!, bi = spectrum[2 * j + 1]!;
      const er = 0.5 * (ar + br), ei = 0.5 * (ai - bi);
      const dr = 0.5 * (ar - br), di = 0.5 * (ai + bi);
      const ck = c[k]!, sk = -s[k]!;
      const or = dr * ck - di * sk, oi = dr * sk + di * ck;
      z[2 * k] = er - oi;
      z[2 * k + 1] = -(ei + or);
    }
    const zr = this.zr;
    const zi = this.zi;
    this.half.run(z, zr, zi);
    const scale = 1 / m;
    for (let j = 0; j < m; j++) {
      out[2 * j] = zr[j]! * scale;
      out[2 * j + 1] = -zi[j]! * scale;
    }
  }
}

const realPlans = new Map<number, RealFftPlan>();
const complexPlans = new Map<number, ComplexFftPlan>();

/** Cached plan for real transforms of n points. */
export function realFftPlan(n: number): RealFftPlan {
  let p = realPlans.get(n);
  if (p === undefined) {
    p = new RealFftPlan(n);
    realPlans.set(n, p);
  }
  return p;
}

/** Cached plan for complex transforms of m points. */
export function complexFftPlan(m: number): ComplexFftPlan {
  let p = complexPlans.get(m);
  if (p === undefined) {
    p = new ComplexFftPlan(m);
    complexPlans.set(m, p);
  }
  return p;
}

/** Convenience: forward real FFT into a new interleaved array of n + 2 values. */
export function rfft(x: ArrayLike<number>, n: number = x.length): Float64Array {
  const out = new Float64Array(n + 2);
  realFftPlan(n).forward(x, out);
  return out;
}

/** Convenience: inverse real FFT of an interleaved Hermitian spectrum into n new samples. */
export function irfft(spectrum: ArrayLike<number>, n: number = spectrum.length - 2): Float64Array {
  const out = new Float64Array(n);
  realFftPlan(n).inverse(spectrum, out);
  return out;
}
