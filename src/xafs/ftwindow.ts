/**
 * Larch's XAFS Fourier-transform windows on a uniform grid starting near 0 (spec §5.2):
 * hanning, parzen, welch, kaiser, gaussian, sine. Window names are matched on their first three
 * letters, case-insensitively, as in Larch.
 */
import { finite, finiteArray, num, optionsObject, show } from './validate.js';

/** Larch's Fourier-transform window names (ftwindow's `window`; the first three letters are enough). */
export type WindowName = 'hanning' | 'parzen' | 'welch' | 'kaiser' | 'gaussian' | 'sine';

/** Options of ftwindow; x itself must be finite. */
export interface FtWindowOptions {
  /** Start of the window's plateau region (default min x); finite. */
  xmin?: number;
  /** End of the window's plateau region (default max x); finite. */
  xmax?: number;
  /**
   * Taper width at xmin (default 1); the Kaiser β and the Gaussian σ for those windows. In
   * [0, 100] (Å⁻¹ or Å): a sill is at most the grid's range, and I0(β) stays finite.
   */
  dx?: number;
  /** Taper width at xmax (default dx), in [0, 100]. */
  dx2?: number;
  /** hanning (default), parzen, welch, kaiser, gaussian or sine; the first three letters count. */
  window?: WindowName | string;
}

const WINDOW_PREFIXES = ['kai', 'han', 'par', 'wel', 'gau', 'sin'] as const;
type WindowPrefix = (typeof WINDOW_PREFIXES)[number];

export function windowPrefix(window: string): WindowPrefix {
  const p = window.trim().toLowerCase().slice(0, 3);
  if (!(WINDOW_PREFIXES as readonly string[]).includes(p)) {
    throw new RangeError(`window = '${window}' is not one of hanning, parzen, welch, kaiser, gaussian, sine`);
  }
  return p as WindowPrefix;
}

/** A window option: a string naming a known window (returned as given). */
export function windowName(what: string, name: string, window: unknown): string {
  if (typeof window !== 'string') throw new TypeError(`${what}: ${name} = ${show(window)} must be one of hanning, parzen, welch, kaiser, gaussian, sine`);
  try {
    windowPrefix(window);
  } catch (e) {
    throw new RangeError(`${what}: ${name} = ${show(window)} is not one of hanning, parzen, welch, kaiser, gaussian, sine`, { cause: e });
  }
  return window;
}

/** Largest taper width (see FtWindowOptions.dx). */
export const MAX_WINDOW_WIDTH = 100;

/** Modified Bessel function I0 by its power series (arguments here are at most a few tens). */
export function besselI0(x: number): number {
  const q = (x * x) / 4;
  let term = 1;
  let sum = 1;
  for (let k = 1; k < 500; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  return sum;
}

/** The window on x into out (allocated when not given). */
export function ftwindow(x: ArrayLike<number>, optionsIn: FtWindowOptions = {}, out?: Float64Array): Float64Array {
  const options = optionsObject('ftwindow', 'options', optionsIn) as FtWindowOptions;
  const name = windowPrefix(windowName('ftwindow', 'window', options.window ?? 'hanning'));
  const width = { min: 0, max: MAX_WINDOW_WIDTH };
  let dx1 = num('ftwindow', 'dx', options.dx, 1, width);
  const dx2 = num('ftwindow', 'dx2', options.dx2, dx1, width);
  finite('ftwindow', 'xmin', options.xmin);
  finite('ftwindow', 'xmax', options.xmax);
  finiteArray('ftwindow', 'x', x);
  const n = x.length;
  if (out !== undefined && !(out instanceof Float64Array && out.length >= n)) throw new TypeError(`ftwindow: out must be a Float64Array of at least ${n} values`);
  const w = out ?? new Float64Array(n);
  if (n === 0) return w;
  let xlo = Infinity;
  let xhi = -Infinity;
  for (let i = 0; i < n; i++) {
    xlo = Math.min(xlo, x[i]!);
    xhi = Math.max(xhi, x[i]!);
  }
  const xmin = options.xmin ?? xlo;
  const xmax = options.xmax ?? xhi;
  let xstep = n > 1 ? (x[n - 1]! - x[0]!) / (n - 1) : NaN;
  if (!(xstep >= 0)) xstep = 1e-3;
  const eps = 1e-4 * xstep;
  let x1 = Math.max(xlo, xmin - dx1 / 2);
  let x2 = xmin + dx1 / 2 + eps;
  let x3 = xmax - dx2 / 2 - eps;
  let x4 = Math.min(xhi, xmax + dx2 / 2);
  if (name === 'gau') dx1 = Math.max(dx1, eps);
  // Indices on the grid, clamped to it: sills wider than the grid (or a plateau outside it) must
  // neither index past the ends nor make the taper loops run over ~1e300 indices.
  const asInt = (v: number): number => Math.min(n - 1, Math.max(0, Math.trunc((v + eps) / xstep)));
  let i1 = asInt(x1);
  const i2 = asInt(x2);
  let i3 = asInt(x3);
  const i4 = asInt(x4);
  if (i2 === i1) i1 = Math.max(0, i2 - 1);
  if (i4 === i3) i3 = Math.max(i2, i4 - 1);
  x1 = x[i1]!;
  x2 = x[i2]!;
  x3 = x[i3]!;
  x4 = x[i4]!;
  if (x1 === x2) x2 += eps;
  if (x3 === x4) x4 += eps;
  // Kaiser, Gaussian and sine windows divide by the support x4 − x1.
  if (!(x4 > x1)) {
    throw new RangeError(`ftwindow: xmin = ${xmin}, xmax = ${xmax} with dx = ${dx1}, dx2 = ${dx2} leave the window no width on the grid [${xlo}, ${xhi}]`);
  }

  w.fill(0);
  for (let i = i2; i < i3; i++) w[i] = 1;
  // Taper ranges are inclusive at both ends, applied in Larch's order (the high side last).
  const hi1 = Math.min(i2, n - 1);
  switch (name) {
    case 'han':
      for (let i = i1; i <= hi1; i++) w[i] = Math.sin(((Math.PI / 2) * (x[i]! - x1)) / (x2 - x1)) ** 2;
      for (let i = i3; i <= i4; i++) w[i] = Math.cos(((Math.PI / 2) * (x[i]! - x3)) / (x4 - x3)) ** 2;
      break;
    case 'par':
      for (let i = i1; i <= hi1; i++) w[i] = (x[i]! - x1) / (x2 - x1);
      for (let i = i3; i <= i4; i++) w[i] = 1 - (x[i]! - x3) / (x4 - x3);
      break;
    case 'wel':
      for (let i = i1; i <= hi1; i++) w[i] = 1 - ((x[i]! - x2) / (x2 - x1)) ** 2;
      for (let i = i3; i <= i4; i++) w[i] = 1 - ((x[i]! - x3) / (x4 - x3)) ** 2;
      break;
    case 'kai': {
      const cen = (x4 + x1) / 2;
      const wid = (x4 - x1) / 2;
      const scale = Math.max(1e-10, besselI0(dx1) - 1);
      for (let i = 0; i < n; i++) {
        const arg = Math.max(0, 1 - (x[i]! - cen) ** 2 / (wid * wid));
        w[i] = (besselI0(dx1 * Math.sqrt(arg)) - 1) / scale;
      }
      break;
    }
    case 'sin':
      for (let i = i1; i <= i4; i++) w[i] = Math.sin((Math.PI * (x4 - x[i]!)) / (x4 - x1));
      break;
    case 'gau': {
      const cen = (x4 + x1) / 2;
      for (let i = 0; i < n; i++) w[i] = Math.exp(-((x[i]! - cen) ** 2) / (2 * dx1 * dx1));
      break;
    }
  }
  return w;
}
