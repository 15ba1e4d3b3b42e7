/**
 * XAFS Fourier transforms with Larch's scaling and grids (spec §5.1):
 * χ(R_m) = (δk/√π) Σ_n w_n k_n^kw χ_n e^{2i k_n R_m}·… evaluated by a zero-padded FFT of nfft points,
 * R_m = m·π/(δk·nfft); the back transform χ(q) = (2δR/√π)·Σ_m c_m e^{2i q R_m}·½ for complex input.
 */
import { complexFftPlan, realFftPlan } from '../math/fft.js';
import { interpLinear } from '../math/interp.js';
import { MAX_WINDOW_WIDTH, ftwindow, windowName, type WindowName } from './ftwindow.js';
import { MAX_K, MAX_KSTEP, MAX_KWEIGHT, MAX_R, MIN_KSTEP, checkNum, finiteArray, nfftOf, num, optionsObject } from './validate.js';

/**
 * Options of xftf, each checked before use (an error names it, its value and its range); k and
 * χ must be finite, k increasing.
 */
export interface XftfOptions {
  /** Start of the window plateau in k, Å⁻¹, in [0, 100] (default 0). */
  kmin?: number;
  /** End of the window plateau in k, Å⁻¹, in [0, 100] (default 20). */
  kmax?: number;
  /** k-weight, in [0, 5] (default 2). */
  kweight?: number;
  /** Width of the window's low sill, Å⁻¹ (the Kaiser window's β), in [0, 100] (default 1). */
  dk?: number;
  /** Width of the high sill, Å⁻¹, in [0, 100] (default dk). */
  dk2?: number;
  /** Window name (default kaiser); see ftwindow. */
  window?: WindowName | string;
  /** Largest R returned, Å (Larch's rmax_out), in (0, 100] (default 10). */
  rmaxOut?: number;
  /** FFT size: a power of two in [256, 65536] (default 2048). */
  nfft?: number;
  /** k grid step (Å⁻¹), in [0.001, 1] (default k[1] − k[0], which must then lie in that range). */
  kstep?: number;
}

/**
 * χ(R) from xftf (Larch's group fields r, chir_re, chir_im, chir_mag, chir_pha, kwin), in
 * Å^(−(kweight+1)), on R = 0 … rmaxOut.
 */
export interface XftfResult {
  /** R grid, Å: m·rstep with rstep = π/(kstep·nfft), m = 0 … trunc(min(nfft/2, 1.01 + rmaxOut/rstep)) − 1. */
  r: Float64Array;
  /** Real part of χ(R), Å^(−(kweight+1)). */
  chirRe: Float64Array;
  /** Imaginary part of χ(R), Å^(−(kweight+1)). */
  chirIm: Float64Array;
  /** |χ(R)|, Å^(−(kweight+1)). */
  chirMag: Float64Array;
  /** Phase of χ(R), radians, unwrapped along R as numpy.unwrap does. */
  chirPha: Float64Array;
  /** Window on the uniform k grid (0, kstep, …) up to max(k), dimensionless. */
  kwin: Float64Array;
}

/**
 * Options of xftr, checked as xftf's; r, chirRe and chirIm must be finite, r increasing, and its
 * step must give kstep = π/(rstep·nfft) in [0.001, 1] Å⁻¹.
 */
export interface XftrOptions {
  /** Start of the window plateau in R, Å, in [0, 100] (default 0). */
  rmin?: number;
  /** End of the window plateau in R, Å, in [0, 100] (default 20). */
  rmax?: number;
  /** R-weight, in [0, 5] (default 0). */
  rweight?: number;
  /** Width of the window's low sill, Å, in [0, 100] (default 1). */
  dr?: number;
  /** Width of the high sill, Å, in [0, 100] (default dr). */
  dr2?: number;
  /** Window name (default kaiser); see ftwindow. */
  window?: WindowName | string;
  /** Largest q returned, Å⁻¹ (Larch's qmax_out), in (0, 100] (default 30). */
  qmaxOut?: number;
  /** FFT size: a power of two in [256, 65536] (default 2048). */
  nfft?: number;
}

/**
 * χ(q) from xftr (Larch's group fields q, chiq_re, chiq_im, chiq_mag, chiq_pha, rwin): the back
 * transform, in the units of the k-weighted χ(k) (Å^(−kweight)) when χ(R) came from xftf and
 * rweight is 0.
 */
export interface XftrResult {
  /**
   * q grid, Å⁻¹: nq points evenly spaced from 0 to qmaxOut, nq = min(nfft/2, trunc(1.05 +
   * qmaxOut/kstep)), as Larch builds it; the values at index i are the FFT bin at i·kstep, which
   * q[i] equals when qmaxOut is a multiple of kstep.
   */
  q: Float64Array;
  /** Real part of χ(q). */
  chiqRe: Float64Array;
  /** Imaginary part of χ(q). */
  chiqIm: Float64Array;
  /** |χ(q)|. */
  chiqMag: Float64Array;
  /** Phase of χ(q), radians, unwrapped along q as numpy.unwrap does. */
  chiqPha: Float64Array;
  /** Window on the uniform R grid (0, rstep, …) up to max(r), dimensionless. */
  rwin: Float64Array;
}

const K_RANGE = { min: 0, max: MAX_K, unit: 'Å⁻¹' };
const R_RANGE = { min: 0, max: MAX_R, unit: 'Å' };
const WIDTH = { min: 0, max: MAX_WINDOW_WIDTH };
const KSTEP = { min: MIN_KSTEP, max: MAX_KSTEP, unit: 'Å⁻¹' };

/** A finite, strictly increasing grid (k or R) of at least 2 points. */
function checkGrid(what: string, name: string, x: ArrayLike<number>): void {
  if (x.length < 2) throw new RangeError(`${what}: ${name} needs at least 2 points, got ${x.length}`);
  for (let i = 1; i < x.length; i++) {
    if (!(x[i]! > x[i - 1]!)) throw new RangeError(`${what}: ${name} must increase: ${name}[${i - 1}] = ${x[i - 1]}, ${name}[${i}] = ${x[i]}`);
  }
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
export function xftfFast(xIn: ArrayLike<number>, nfftIn = 2048, kstepIn = 0.05): { re: Float64Array; im: Float64Array } {
  const x = finiteArray('xftf', 'x', xIn);
  const nfft = nfftOf('xftf', nfftIn);
  const kstep = checkNum('xftf', 'kstep', kstepIn, KSTEP);
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
export function xftrFast(reIn: ArrayLike<number>, imIn: ArrayLike<number>, nfftIn = 2048, kstepIn = 0.05): { re: Float64Array; im: Float64Array } {
  const re = finiteArray('xftr', 're', reIn);
  const im = finiteArray('xftr', 'im', imIn);
  const nfft = nfftOf('xftr', nfftIn);
  const kstep = checkNum('xftr', 'kstep', kstepIn, KSTEP);
  if (im.length !== re.length) throw new RangeError(`xftr: re has ${re.length} points but im has ${im.length}`);
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
export function xftf(kIn: ArrayLike<number>, chiIn: ArrayLike<number>, optionsIn: XftfOptions = {}): XftfResult {
  const W = 'xftf';
  const options = optionsObject(W, 'options', optionsIn) as XftfOptions;
  const k = finiteArray(W, 'k', kIn);
  const chi = finiteArray(W, 'chi', chiIn);
  if (k.length !== chi.length) throw new RangeError(`xftf: k has ${k.length} points but chi has ${chi.length}`);
  checkGrid(W, 'k', k);
  const nfft = nfftOf(W, options.nfft);
  const kstep = options.kstep === undefined ? checkNum(W, 'kstep (k[1] − k[0])', k[1]! - k[0]!, KSTEP) : checkNum(W, 'kstep', options.kstep, KSTEP);
  const kmin = num(W, 'kmin', options.kmin, 0, K_RANGE);
  const kmax = num(W, 'kmax', options.kmax, 20, K_RANGE);
  const kweight = num(W, 'kweight', options.kweight, 2, { min: 0, max: MAX_KWEIGHT });
  const dk = num(W, 'dk', options.dk, 1, WIDTH);
  const dk2 = num(W, 'dk2', options.dk2, dk, WIDTH);
  const window = windowName(W, 'window', options.window ?? 'kaiser');
  const rmaxOut = num(W, 'rmaxOut', options.rmaxOut, 10, { ...R_RANGE, minOpen: true });
  const kmaxData = k[k.length - 1]!;
  const npts = Math.trunc(1.01 + kmaxData / kstep);
  if (npts > nfft) throw new RangeError(`xftf: nfft = ${nfft} is too small for the ${npts} k points up to max(k) = ${kmaxData} at kstep = ${kstep}`);
  const nGrid = Math.trunc(1.01 + Math.max(kmaxData, kmax + dk2) / kstep);
  const kg = new Float64Array(nGrid);
  for (let i = 0; i < nGrid; i++) kg[i] = kstep * i;
  const chiG = interpLinear(kg, k, chi);
  const win = ftwindow(kg, { xmin: kmin, xmax: kmax, dx: dk, dx2: dk2, window });
  const x = new Float64Array(npts);
  for (let i = 0; i < npts; i++) x[i] = chiG[i]! * kg[i]! ** kweight * win[i]!;
  const full = xftfFast(x, nfft, kstep);
  const rstep = Math.PI / (kstep * nfft);
  const irmax = Math.trunc(Math.min(nfft / 2, 1.01 + rmaxOut / rstep));
  const r = new Float64Array(irmax);
  for (let i = 0; i < irmax; i++) r[i] = rstep * i;
  const chirRe = full.re.slice(0, irmax);
  const chirIm = full.im.slice(0, irmax);
  const chirMag = new Float64Array(irmax);
  for (let i = 0; i < irmax; i++) chirMag[i] = Math.hypot(chirRe[i]!, chirIm[i]!);
  return { r, chirRe, chirIm, chirMag, chirPha: unwrappedPhase(chirRe, chirIm), kwin: win.slice(0, npts) };
}

/** Back transform χ(R) → χ(q) (Larch's xftr) of a complex χ(R) given as re/im arrays. */
export function xftr(rIn: ArrayLike<number>, chirReIn: ArrayLike<number>, chirImIn: ArrayLike<number>, optionsIn: XftrOptions = {}): XftrResult {
  const W = 'xftr';
  const options = optionsObject(W, 'options', optionsIn) as XftrOptions;
  const r = finiteArray(W, 'r', rIn);
  const chirRe = finiteArray(W, 'chirRe', chirReIn);
  const chirIm = finiteArray(W, 'chirIm', chirImIn);
  if (r.length !== chirRe.length || r.length !== chirIm.length) {
    throw new RangeError(`xftr: r, chirRe and chirIm must have the same length (${r.length}, ${chirRe.length}, ${chirIm.length})`);
  }
  checkGrid(W, 'r', r);
  const nfft = nfftOf(W, options.nfft);
  const rstep = r[1]! - r[0]!;
  const kstep = Math.PI / (rstep * nfft);
  if (!(kstep >= MIN_KSTEP && kstep <= MAX_KSTEP)) {
    throw new RangeError(`xftr: r[1] − r[0] = ${rstep} Å gives kstep = π/(rstep·nfft) = ${kstep}, which must be in [${MIN_KSTEP}, ${MAX_KSTEP}] Å⁻¹`);
  }
  const rmin = num(W, 'rmin', options.rmin, 0, R_RANGE);
  const rmax = num(W, 'rmax', options.rmax, 20, R_RANGE);
  const dr = num(W, 'dr', options.dr, 1, WIDTH);
  const dr2 = num(W, 'dr2', options.dr2, dr, WIDTH);
  const rweight = num(W, 'rweight', options.rweight, 0, { min: 0, max: MAX_KWEIGHT });
  const window = windowName(W, 'window', options.window ?? 'kaiser');
  const qmax = num(W, 'qmaxOut', options.qmaxOut, 30, { ...K_RANGE, minOpen: true });
  const rmaxData = r[r.length - 1]!;
  const npts = Math.trunc(1.01 + rmaxData / rstep);
  if (npts > nfft) throw new RangeError(`xftr: nfft = ${nfft} is too small for the ${npts} R points up to max(r) = ${rmaxData}`);
  const nGrid = Math.trunc(1.01 + Math.max(rmaxData, rmax + dr2) / rstep);
  const rg = new Float64Array(nGrid);
  for (let i = 0; i < nGrid; i++) rg[i] = rstep * i;
  const re = interpLinear(rg, r, chirRe);
  const im = interpLinear(rg, r, chirIm);
  const win = ftwindow(rg, { xmin: rmin, xmax: rmax, dx: dr, dx2: dr2, window });
  const xr = new Float64Array(npts);
  const xi = new Float64Array(npts);
  for (let i = 0; i < npts; i++) {
    const f = rg[i]! ** rweight * win[i]!;
    xr[i] = re[i]! * f;
    xi[i] = im[i]! * f;
  }
  // Larch halves the back transform of a complex χ(R) (only positive R was transformed).
  const full = xftrFast(xr, xi, nfft, kstep);
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
