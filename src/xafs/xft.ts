/**
 * XAFS Fourier transforms with Larch's scaling and grids (spec §5.1):
 * χ(R_m) = (δk/√π) Σ_n w_n k_n^kw χ_n e^{2i k_n R_m}·… evaluated by a zero-padded FFT of nfft points,
 * R_m = m·π/(δk·nfft); the back transform χ(q) = (2δR/√π)·Σ_m c_m e^{2i q R_m}·½ for complex input.
 */
import { complexFftPlan, realFftPlan } from '../math/fft.js';
import { interpLinear } from '../math/interp.js';
import { ftwindow, type WindowName } from './ftwindow.js';

export interface XftfOptions {
  kmin?: number;
  kmax?: number;
  /** k-weight (default 2). */
  kweight?: number;
  dk?: number;
  dk2?: number;
  window?: WindowName | string;
  /** Largest R returned (Å, default 10). */
  rmaxOut?: number;
  nfft?: number;
  /** k grid step (default k[1] − k[0]). */
  kstep?: number;
}

export interface XftfResult {
  r: Float64Array;
  chirRe: Float64Array;
  chirIm: Float64Array;
  chirMag: Float64Array;
  /** Unwrapped phase. */
  chirPha: Float64Array;
  /** Window on the k grid of chi. */
  kwin: Float64Array;
}

export interface XftrOptions {
  rmin?: number;
  rmax?: number;
  /** R-weight (default 0). */
  rweight?: number;
  dr?: number;
  dr2?: number;
  window?: WindowName | string;
  /** Largest q returned (Å⁻¹, default 30). */
  qmaxOut?: number;
  nfft?: number;
}

export interface XftrResult {
  q: Float64Array;
  chiqRe: Float64Array;
  chiqIm: Float64Array;
  chiqMag: Float64Array;
  chiqPha: Float64Array;
  rwin: Float64Array;
}

function positive(name: string, v: number): number {
  if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`${name} = ${v} must be a positive number`);
  return v;
}

function checkNfft(nfft: number): number {
  if (!(Number.isInteger(nfft) && nfft >= 4 && (nfft & (nfft - 1)) === 0)) {
    throw new RangeError(`nfft = ${nfft} must be a power of two ≥ 4`);
  }
  return nfft;
}

/** numpy.unwrap of the phases atan2(im, re). */
function unwrappedPhase(re: Float64Array, im: Float64Array): Float64Array {
  const n = re.length;
  const p = new Float64Array(n);
  let offset = 0;
  for (let i = 0; i < n; i++) {
    const a = Math.atan2(im[i]!, re[i]!);
    if (i > 0) {
      const raw = a - (p[i - 1]! - offset);
      // numpy: corrections when |jump| > π, with ±π jumps mapped to keep the sign of the jump.
      let dd = ((((raw + Math.PI) % (2 * Math.PI)) + 2 * Math.PI) % (2 * Math.PI)) - Math.PI;
      if (dd === -Math.PI && raw > 0) dd = Math.PI;
      if (Math.abs(raw) >= Math.PI) offset += dd - raw;
    }
    p[i] = a + offset;
  }
  return p;
}

/**
 * Larch's xftf_fast: (kstep/√π)·FFT(x zero-padded to nfft), bins 0..nfft/2−1, split re/im.
 */
export function xftfFast(x: ArrayLike<number>, nfft = 2048, kstep = 0.05): { re: Float64Array; im: Float64Array } {
  checkNfft(nfft);
  if (x.length > nfft) throw new RangeError(`xftf: ${x.length} points do not fit in nfft = ${nfft}`);
  const spec = new Float64Array(nfft + 2);
  realFftPlan(nfft).forward(x, spec);
  const half = nfft / 2;
  const re = new Float64Array(half);
  const im = new Float64Array(half);
  const s = kstep / Math.sqrt(Math.PI);
  for (let m = 0; m < half; m++) {
    re[m] = s * spec[2 * m]!;
    im[m] = s * spec[2 * m + 1]!;
  }
  return { re, im };
}

/** Larch's xftr_fast: (4√π/kstep)·IFFT(c zero-padded to nfft), first nfft/2 points. */
export function xftrFast(re: ArrayLike<number>, im: ArrayLike<number>, nfft = 2048, kstep = 0.05): { re: Float64Array; im: Float64Array } {
  checkNfft(nfft);
  if (re.length > nfft) throw new RangeError(`xftr: ${re.length} points do not fit in nfft = ${nfft}`);
  const outRe = new Float64Array(nfft);
  const outIm = new Float64Array(nfft);
  complexFftPlan(nfft).transform(re, im, outRe, outIm, true);
  const s = (4 * Math.sqrt(Math.PI)) / kstep;
  const half = nfft / 2;
  const r = new Float64Array(half);
  const i = new Float64Array(half);
  for (let m = 0; m < half; m++) {
    r[m] = s * outRe[m]!;
    i[m] = s * outIm[m]!;
  }
  return { re: r, im: i };
}

/** Forward XAFS transform χ(k) → χ(R) (Larch's xftf). */
export function xftf(k: ArrayLike<number>, chi: ArrayLike<number>, options: XftfOptions = {}): XftfResult {
  if (k.length !== chi.length) throw new RangeError(`xftf: k has ${k.length} points but chi has ${chi.length}`);
  if (k.length < 2) throw new RangeError(`xftf needs at least 2 points, got ${k.length}`);
  const nfft = checkNfft(options.nfft ?? 2048);
  const kstep = positive('kstep', options.kstep ?? k[1]! - k[0]!);
  const kmin = options.kmin ?? 0;
  const kmax = options.kmax ?? 20;
  const kweight = options.kweight ?? 2;
  const dk = options.dk ?? 1;
  const dk2 = options.dk2 ?? dk;
  let kmaxData = -Infinity;
  for (let i = 0; i < k.length; i++) kmaxData = Math.max(kmaxData, k[i]!);
  const npts = Math.trunc(1.01 + kmaxData / kstep);
  const nGrid = Math.trunc(1.01 + Math.max(kmaxData, kmax + dk2) / kstep);
  if (npts > nfft) throw new RangeError(`xftf: ${npts} k points do not fit in nfft = ${nfft}`);
  const kg = new Float64Array(nGrid);
  for (let i = 0; i < nGrid; i++) kg[i] = kstep * i;
  const chiG = interpLinear(kg, k, chi);
  const win = ftwindow(kg, { xmin: kmin, xmax: kmax, dx: dk, dx2: dk2, window: options.window ?? 'kaiser' });
  const x = new Float64Array(npts);
  for (let i = 0; i < npts; i++) x[i] = chiG[i]! * kg[i]! ** kweight * win[i]!;
  const full = xftfFast(x, nfft, kstep);
  const rstep = Math.PI / (kstep * nfft);
  const irmax = Math.trunc(Math.min(nfft / 2, 1.01 + (options.rmaxOut ?? 10) / rstep));
  const r = new Float64Array(irmax);
  for (let i = 0; i < irmax; i++) r[i] = rstep * i;
  const chirRe = full.re.slice(0, irmax);
  const chirIm = full.im.slice(0, irmax);
  const chirMag = new Float64Array(irmax);
  for (let i = 0; i < irmax; i++) chirMag[i] = Math.hypot(chirRe[i]!, chirIm[i]!);
  return { r, chirRe, chirIm, chirMag, chirPha: unwrappedPhase(chirRe, chirIm), kwin: win.slice(0, npts) };
}

/** Back transform χ(R) → χ(q) (Larch's xftr) of a complex χ(R) given as re/im arrays. */
export function xftr(r: ArrayLike<number>, chirRe: ArrayLike<number>, chirIm: ArrayLike<number>, options: XftrOptions = {}): XftrResult {
  if (r.length !== chirRe.length || r.length !== chirIm.length) {
    throw new RangeError(`xftr: r, chirRe and chirIm must have the same length (${r.length}, ${chirRe.length}, ${chirIm.length})`);
  }
  if (r.length < 2) throw new RangeError(`xftr needs at least 2 points, got ${r.length}`);
  const nfft = checkNfft(options.nfft ?? 2048);
  const rstep = positive('rstep', r[1]! - r[0]!);
  const kstep = Math.PI / (rstep * nfft);
  const rmin = options.rmin ?? 0;
  const rmax = options.rmax ?? 20;
  const dr = options.dr ?? 1;
  const dr2 = options.dr2 ?? dr;
  const rweight = options.rweight ?? 0;
  let rmaxData = -Infinity;
  for (let i = 0; i < r.length; i++) rmaxData = Math.max(rmaxData, r[i]!);
  const npts = Math.trunc(1.01 + rmaxData / rstep);
  const nGrid = Math.trunc(1.01 + Math.max(rmaxData, rmax + dr2) / rstep);
  if (npts > nfft) throw new RangeError(`xftr: ${npts} R points do not fit in nfft = ${nfft}`);
  const rg = new Float64Array(nGrid);
  for (let i = 0; i < nGrid; i++) rg[i] = rstep * i;
  const re = interpLinear(rg, r, chirRe);
  const im = interpLinear(rg, r, chirIm);
  const win = ftwindow(rg, { xmin: rmin, xmax: rmax, dx: dr, dx2: dr2, window: options.window ?? 'kaiser' });
  const xr = new Float64Array(npts);
  const xi = new Float64Array(npts);
  for (let i = 0; i < npts; i++) {
    const f = rg[i]! ** rweight * win[i]!;
    xr[i] = re[i]! * f;
    xi[i] = im[i]! * f;
  }
  // Larch halves the back transform of a complex χ(R) (only positive R was transformed).
  const full = xftrFast(xr, xi, nfft, kstep);
  const qmax = options.qmaxOut ?? 30;
  const nq = Math.min(nfft / 2, Math.trunc(1.05 + qmax / kstep));
  const q = new Float64Array(nq);
  for (let i = 0; i < nq; i++) q[i] = nq > 1 ? (qmax * i) / (nq - 1) : 0;
  const chiqRe = new Float64Array(nq);
  const chiqIm = new Float64Array(nq);
  const chiqMag = new Float64Array(nq);
  for (let i = 0; i < nq; i++) {
    chiqRe[i] = 0.5 * full.re[i]!;
    chiqIm[i] = 0.5 * full.im[i]!;
    chiqMag[i] = Math.hypot(chiqRe[i]!, chiqIm[i]!);
  }
  return { q, chiqRe, chiqIm, chiqMag, chiqPha: unwrappedPhase(chiqRe, chiqIm), rwin: win.slice(0, npts) };
}
