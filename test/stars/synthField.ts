/**
 * Synthetic star fields with exact truth, generated in the test from a fixed seed (nothing is
 * committed but this file). Conventions are those of test/fixtures/stars (README there): zero-based
 * coordinates with pixel centres at integers, profiles integrated over the pixel area, noise =
 * Poisson(gain·(sky + stars)) + Normal(0, read noise) electrons, back to ADU; per star the
 * Cramér–Rao bound of (x0, y0) for an unbiased fit of (x0, y0, flux, constant background) with
 * the true PSF shape, this star alone, from the same noise model (the sky variance is the true
 * sky's at each pixel).
 *
 * The sky is `level + gx·x + gy·y + Σ blobs amp·exp(−r²/(2σ²))`: a gradient and nebula-like blobs.
 */
import { upperTails } from '../../src/stars/psfModel.js';
import type { Image } from '../../src/stars/index.js';
import type { TruthStar } from './fields.js';

export interface SkyModel {
  level: number;
  gx: number;
  gy: number;
  blobs: { x: number; y: number; amp: number; sigma: number }[];
}

export interface SynthSpec {
  seed: number;
  width: number;
  height: number;
  psf: 'gaussian' | 'moffat';
  fwhm: number;
  /** Moffat β (psf 'moffat'). */
  beta?: number;
  /** Stars on a jittered grid of this spacing (px), at least `margin` px from the edges. */
  spacing: number;
  margin: number;
  fluxMin: number;
  fluxMax: number;
  sky: SkyModel;
  gain: number;
  readNoise: number;
}

export interface SynthField {
  image: Image;
  stars: TruthStar[];
  gain: number;
  readNoise: number;
  saturation: null;
  /** The noiseless sky, per pixel (row-major, ADU). */
  sky: Float64Array;
}

/** xoshiro128** (Blackman & Vigna): a small, fast, well-distributed 32-bit generator; uniform in [0, 1). */
function rng(seed: number): () => number {
  // splitmix32 spreads the seed over the four words of state.
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = next(), b = next(), c = next(), d = next();
  return () => {
    const r = Math.imul(((Math.imul(b, 5) << 7) | (Math.imul(b, 5) >>> 25)) >>> 0, 9) >>> 0;
    const t = (b << 9) >>> 0;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = ((d << 11) | (d >>> 21)) >>> 0;
    return r / 4294967296;
  };
}

function normal(u: () => number): number {
  // Box–Muller; 1 − u() lies in (0, 1], so the logarithm is finite.
  return Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/** ln Γ(x) for x ≥ 1: recurrence up to 10, then Stirling's series (error < 1e-12 there). */
function lnGamma(x: number): number {
  let shift = 0;
  while (x < 10) {
    shift -= Math.log(x);
    x += 1;
  }
  const ix2 = 1 / (x * x);
  return shift + (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + (1 / (12 * x)) * (1 - ix2 * (1 / 30 - ix2 / 105));
}

/**
 * Poisson deviate: multiplication of uniforms below λ = 30, Hörmann's transformed rejection with
 * squeeze (PTRS, 1993) above.
 */
function poisson(lam: number, u: () => number): number {
  if (!(lam > 0)) return 0;
  if (lam < 30) {
    const L = Math.exp(-lam);
    let k = 0;
    let p = u();
    while (p > L) {
      k++;
      p *= u();
    }
    return k;
  }
  const slam = Math.sqrt(lam);
  const loglam = Math.log(lam);
  const b = 0.931 + 2.53 * slam;
  const a = -0.059 + 0.02483 * b;
  const invAlpha = 1.1239 + 1.1328 / (b - 3.4);
  const vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const U = u() - 0.5;
    const V = u();
    const us = 0.5 - Math.abs(U);
    const k = Math.floor(((2 * a) / us + b) * U + lam + 0.43);
    if (us >= 0.07 && V <= vr) return k;
    if (k < 0 || (us < 0.013 && V > us)) continue;
    if (Math.log(V) + Math.log(invAlpha) - Math.log(a / (us * us) + b) <= -lam + k * loglam - lnGamma(k + 1)) return k;
  }
}

const FWHM_PER_SIGMA = 2 * Math.sqrt(2 * Math.LN2);
/** Moffat profiles are integrated over the pixel with an n×n midpoint rule. */
const MOFFAT_SUB = 10;

/**
 * A star's pixel-integrated profile (unit flux) and its derivatives in x0 and y0 over a box of
 * half-size `half` around its centre pixel, into `p`, `dx`, `dy` (row-major, side 2·half + 1).
 */
function profileBox(spec: SynthSpec, x0: number, y0: number, ix: number, iy: number, half: number, p: Float64Array, dpx: Float64Array, dpy: Float64Array): void {
  const side = 2 * half + 1;
  if (spec.psf === 'gaussian') {
    const s = spec.fwhm / FWHM_PER_SIGMA;
    // Separable: per axis the difference of normal CDFs over the pixel and its derivative.
    const axis = (c: number, i0: number, val: Float64Array, der: Float64Array): void => {
      const t = new Float64Array(side + 1);
      const g = new Float64Array(side + 1);
      const q = new Float64Array(side + 1);
      for (let k = 0; k <= side; k++) {
        t[k] = (i0 - half + k - 0.5 - c) / s;
        g[k] = Math.exp(-0.5 * (t[k] as number) ** 2);
      }
      upperTails(t, g, q, side + 1);
      const cdf = (k: number): number => ((t[k] as number) >= 0 ? 1 - (q[k] as number) : (q[k] as number));
      for (let k = 0; k < side; k++) {
        val[k] = cdf(k + 1) - cdf(k);
        der[k] = -((g[k + 1] as number) - (g[k] as number)) / (s * Math.sqrt(2 * Math.PI));
      }
    };
    const vx = new Float64Array(side), ddx = new Float64Array(side), vy = new Float64Array(side), ddy = new Float64Array(side);
    axis(x0, ix, vx, ddx);
    axis(y0, iy, vy, ddy);
    for (let j = 0; j < side; j++) {
      for (let i = 0; i < side; i++) {
        p[j * side + i] = (vx[i] as number) * (vy[j] as number);
        dpx[j * side + i] = (ddx[i] as number) * (vy[j] as number);
        dpy[j * side + i] = (vx[i] as number) * (ddy[j] as number);
      }
    }
    return;
  }
  const beta = spec.beta ?? 3;
  const alpha = spec.fwhm / (2 * Math.sqrt(2 ** (1 / beta) - 1));
  const norm = (beta - 1) / (Math.PI * alpha * alpha);
  const ia2 = 1 / (alpha * alpha);
  const n = MOFFAT_SUB;
  for (let j = 0; j < side; j++) {
    for (let i = 0; i < side; i++) {
      let sp = 0, sx = 0, sy = 0;
      for (let b = 0; b < n; b++) {
        const dy = iy - half + j - 0.5 + (b + 0.5) / n - y0;
        for (let a = 0; a < n; a++) {
          const dx = ix - half + i - 0.5 + (a + 0.5) / n - x0;
          const uu = 1 + (dx * dx + dy * dy) * ia2;
          const v = uu ** -beta;
          sp += v;
          // ∂/∂x0 of (1 + r²/α²)^−β = 2β·dx/α²·(1 + r²/α²)^−β−1.
          const d = (2 * beta * ia2 * v) / uu;
          sx += d * dx;
          sy += d * dy;
        }
      }
      const k = j * side + i;
      const f = norm / (n * n);
      p[k] = sp * f;
      dpx[k] = sx * f;
      dpy[k] = sy * f;
    }
  }
}

export function skyAt(sky: SkyModel, x: number, y: number): number {
  let v = sky.level + sky.gx * x + sky.gy * y;
  for (const b of sky.blobs) v += b.amp * Math.exp(-((x - b.x) ** 2 + (y - b.y) ** 2) / (2 * b.sigma * b.sigma));
  return v;
}

/** Inverse of a symmetric 4×4 matrix's [0][0] and [1][1] entries (Gauss–Jordan, no pivoting needed: positive definite). */
function inverseDiagonal2(m: number[][]): [number, number] {
  const n = 4;
  const a = m.map((r, i) => [...r, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    const piv = a[c]![c]!;
    for (let j = 0; j < 2 * n; j++) a[c]![j]! /= piv;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = a[r]![c]!;
      for (let j = 0; j < 2 * n; j++) a[r]![j]! -= f * a[c]![j]!;
    }
  }
  return [a[0]![n]!, a[1]![n + 1]!];
}

/** Generates the field of `spec`: the same seed always gives the same pixels and truth. */
export function synthField(spec: SynthSpec): SynthField {
  const { width: W, height: H, gain, readNoise } = spec;
  const u = rng(spec.seed);
  const sky = new Float64Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) sky[y * W + x] = skyAt(spec.sky, x, y);
  const model = Float64Array.from(sky);
  // Stars on a jittered grid: the jitter keeps every neighbour ≥ spacing − 2·jitter away.
  const jitter = 0.2 * spec.spacing;
  const pos: [number, number][] = [];
  for (let gy = spec.margin; gy <= H - 1 - spec.margin; gy += spec.spacing) {
    for (let gx = spec.margin; gx <= W - 1 - spec.margin; gx += spec.spacing) {
      pos.push([gx + (2 * u() - 1) * jitter, gy + (2 * u() - 1) * jitter]);
    }
  }
  const half = Math.ceil(4 * spec.fwhm) + 4;
  const side = 2 * half + 1;
  const p = new Float64Array(side * side), dpx = new Float64Array(side * side), dpy = new Float64Array(side * side);
  const fluxes = pos.map(() => spec.fluxMin * (spec.fluxMax / spec.fluxMin) ** u());
  const rn = readNoise / gain;
  const stars: TruthStar[] = [];
  pos.forEach(([x0, y0], id) => {
    const F = fluxes[id] as number;
    const ix = Math.round(x0), iy = Math.round(y0);
    profileBox(spec, x0, y0, ix, iy, half, p, dpx, dpy);
    for (let j = 0; j < side; j++) {
      const y = iy - half + j;
      if (y < 0 || y >= H) continue;
      for (let i = 0; i < side; i++) {
        const x = ix - half + i;
        if (x < 0 || x >= W) continue;
        model[y * W + x] = (model[y * W + x] as number) + F * (p[j * side + i] as number);
      }
    }
    stars.push({
      id, x: x0, y: y0, x_init: ix, y_init: iy, flux: F, fwhm: spec.fwhm, fwhm_major: spec.fwhm, fwhm_minor: spec.fwhm,
      axis_ratio: 1, theta: 0, eccentricity: 0,
      edge_dist: Math.min(x0, y0, W - 1 - x0, H - 1 - y0), nn_dist: Infinity, saturated: false,
      snr_expected: NaN, crlb_x: null, crlb_y: null,
      ...(spec.psf === 'moffat' ? { beta: spec.beta ?? 3 } : {}),
    });
  });
  // Fisher information of (x0, y0, F, B) per star, with the variance of the full model (the
  // neighbours are ≥ 10 px away and add nothing measurable).
  for (const s of stars) {
    const ix = s.x_init, iy = s.y_init;
    profileBox(spec, s.x, s.y, ix, iy, half, p, dpx, dpy);
    const I = [0, 1, 2, 3].map(() => [0, 0, 0, 0]);
    let signal = 0, noiseVar = 0;
    const rAp = 1.5 * spec.fwhm;
    for (let j = 0; j < side; j++) {
      const y = iy - half + j;
      if (y < 0 || y >= H) continue;
      for (let i = 0; i < side; i++) {
        const x = ix - half + i;
        if (x < 0 || x >= W) continue;
        const k = j * side + i;
        const mu = (sky[y * W + x] as number) + s.flux * (p[k] as number);
        const v = mu / gain + rn * rn;
        const J = [s.flux * (dpx[k] as number), s.flux * (dpy[k] as number), p[k] as number, 1];
        for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) I[a]![b]! += (J[a]! * J[b]!) / v;
        if ((x - s.x) ** 2 + (y - s.y) ** 2 <= rAp * rAp) {
          signal += s.flux * (p[k] as number);
          noiseVar += v;
        }
      }
    }
    const [vx, vy] = inverseDiagonal2(I);
    s.crlb_x = Math.sqrt(vx);
    s.crlb_y = Math.sqrt(vy);
    s.snr_expected = signal / Math.sqrt(noiseVar);
    let nn = Infinity;
    for (const o of stars) if (o !== s) nn = Math.min(nn, Math.hypot(o.x - s.x, o.y - s.y));
    s.nn_dist = nn;
  }
  const data = new Float32Array(W * H);
  for (let k = 0; k < W * H; k++) {
    const e = poisson(gain * (model[k] as number), u) + readNoise * normal(u);
    data[k] = e / gain;
  }
  return { image: { width: W, height: H, data }, stars, gain, readNoise, saturation: null, sky };
}

/**
 * (a) A gradient-and-nebula field: sky 1000 ADU with a 2 ADU/px slope (3 % of the sky across a
 * 15-px stamp) and two nebula blobs of 1000 ADU, σ 8 px (FWHM ≈ 19 px), which stars sit on.
 */
export function gradientNebulaSpec(psf: 'gaussian' | 'moffat', seed = 20261201): SynthSpec {
  return {
    seed: seed + (psf === 'moffat' ? 1 : 0),
    width: 256,
    height: 256,
    psf,
    fwhm: psf === 'moffat' ? 3.5 : 3,
    beta: 3,
    spacing: 20,
    margin: 20,
    fluxMin: 1500,
    fluxMax: 3e5,
    sky: { level: 1000, gx: 1.6, gy: 1.2, blobs: [{ x: 90, y: 100, amp: 1000, sigma: 8 }, { x: 180, y: 170, amp: 1000, sigma: 8 }] },
    gain: 1.5,
    readNoise: 5,
  };
}

/** (b) An undersampled field: FWHM 1.5 px Gaussians on a flat 1000-ADU sky. */
export function undersampledSpec(seed = 20261203): SynthSpec {
  return {
    seed,
    width: 256,
    height: 256,
    psf: 'gaussian',
    fwhm: 1.5,
    spacing: 20,
    margin: 20,
    fluxMin: 1500,
    fluxMax: 3e5,
    sky: { level: 1000, gx: 0, gy: 0, blobs: [] },
    gain: 1.5,
    readNoise: 5,
  };
}
