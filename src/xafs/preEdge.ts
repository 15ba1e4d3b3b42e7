/**
 * Larch's pre_edge: pre-edge line, post-edge polynomial, edge step and normalisation, with the
 * defaults and range rules of current Larch (spec §3).
 */
import { indexNearest, indexOf, roundHalfEven } from '../math/interp.js';
import { polyfit, polyval } from '../math/polyfit.js';
import { findE0Clean } from './findE0.js';
import { cleanSpectrum } from './xafsUtils.js';
import { bool, checkEdgeStep, checkSignal, finite, num, optionsObject } from './validate.js';

/**
 * Larch's pre_edge options, each checked before use (an error names it, its value and its range).
 * The edge step, given or fitted, must be an edge: finite, with |step| above max(1e-12,
 * 1e-10·max|μ|) (constant μ or a dead channel is an error, not a step of rounding noise), and
 * max|μ| must lie in [1e-30, 1e30].
 */
export interface PreEdgeOptions {
  /** Edge energy, eV (finite); found with findE0 when missing or outside (E[1], E[n−2]). */
  e0?: number;
  /** Edge step (Larch's step), positive; taken from the fits when missing. */
  step?: number;
  /**
   * Start of the pre-edge range, eV relative to e0, finite. Default (Larch's): E[1] − e0 rounded
   * half-to-even to a multiple of 5 eV (of 2 eV when e0 is within 20 points of the start), never
   * below E[0] − e0.
   */
  pre1?: number;
  /** End of the pre-edge range, eV relative to e0, finite (default pre1/2); pre1 and pre2 are swapped when reversed. */
  pre2?: number;
  /**
   * Start of the normalisation range, eV relative to e0, finite. Default min(25, norm2/3 rounded
   * half-to-even to a multiple of 5 eV); kept at least 2 eV below norm2.
   */
  norm1?: number;
  /**
   * End of the normalisation range, eV relative to e0, finite; never beyond the last energy.
   * Default: E[n−1] − e0 rounded half-to-even to a multiple of 5 eV. A negative norm2 ends the
   * range at the last energy (Larch's rule, E[n−1] − e0 − norm2, is then clipped to it).
   */
  norm2?: number;
  /**
   * Degree of the post-edge polynomial: an integer in [0, 5]. Default from the range width
   * norm2 − norm1: 0 below 30 eV, 1 below 300 eV, else 2; lowered to 1 (0) when the range holds
   * fewer than 5 (2) points.
   */
  nnorm?: number;
  /** Energy exponent of the pre-edge fit (μ·E^nvict is fitted with a line), in [−5, 5] (default 0; Larch's Victoreen 0–4). */
  nvict?: number;
  /**
   * Pre-edge degree (Larch's npre): 0 for a constant, 1 for a line (default). Both npre and nvict
   * fall to 0 when the pre-edge range holds fewer than 3 points.
   */
  npre?: number;
  /** Compute the flattened spectrum (Larch's make_flat; default true). */
  makeFlat?: boolean;
}

/** The fitted edge: e0, the pre-edge line, the post-edge polynomial and the step, with the ranges and degrees used. */
export interface EdgeFit {
  /** Edge energy used, eV: the option as given, or findE0's. */
  e0: number;
  /** Index of the energy nearest e0. */
  ie0: number;
  /**
   * Edge step (Larch's edge_step), in μ's units, positive: the option `step`, else post-edge
   * minus pre-edge curve at the energy nearest e0.
   */
  edgeStep: number;
  /** Pre-edge line: (preOffset + preSlope·E)·E^(−nvict). */
  preOffset: number;
  /** Slope of the pre-edge line, per eV (of μ·E^nvict); 0 when npre is 0. */
  preSlope: number;
  /** Post-edge polynomial coefficients a_n of Σ a_n E^n, added to the pre-edge line. */
  normCoefs: Float64Array;
  /** Pre-edge range used, eV relative to e0 (pre1 ≤ pre2). */
  pre1: number;
  /** End of the pre-edge range used, eV relative to e0. */
  pre2: number;
  /** Normalisation range used, eV relative to e0 (norm1 < norm2). */
  norm1: number;
  /** End of the normalisation range used, eV relative to e0. */
  norm2: number;
  /** Degree of the post-edge polynomial used. */
  nnorm: number;
  /** Energy exponent of the pre-edge fit used (0 when the pre-edge range was too short). */
  nvict: number;
  /** Pre-edge degree used (0 when the pre-edge range was too short). */
  npre: number;
}

/**
 * What preEdge returns: the arrays on the cleaned energy grid (Larch's group fields pre_edge,
 * post_edge, norm, flat) and the parameters as resolved from the options and defaults.
 */
export interface PreEdgeResult extends EdgeFit {
  /** Cleaned energies the arrays below refer to, eV (sorted, duplicates separated, finite). */
  energy: Float64Array;
  /** μ(E) on `energy` (the rows kept by cleaning). */
  mu: Float64Array;
  /** Pre-edge curve at every energy (Larch's pre_edge), in μ's units. */
  preEdge: Float64Array;
  /** Post-edge curve (Larch's post_edge): the pre-edge line plus the normalisation polynomial. */
  postEdge: Float64Array;
  /** Normalised μ: (μ − preEdge)/edgeStep, dimensionless. */
  norm: Float64Array;
  /**
   * Flattened μ (Larch's flat): norm with the post-edge curvature removed above e0, equal to norm
   * below e0; null when `makeFlat` is false.
   */
  flat: Float64Array | null;
  /** Rows dropped for a non-finite energy or mu. */
  droppedNonFinite: number;
  /** Whether the input energies had to be sorted. */
  sorted: boolean;
  /** Energies moved to separate duplicates. */
  separatedDuplicates: number;
}

const MAX_NNORM = 5;
const MAX_NVICT = 5;
const WHAT = 'preEdge';

function checkOptions(optionsIn: PreEdgeOptions | undefined): PreEdgeOptions {
  const options = optionsObject(WHAT, 'options', optionsIn) as PreEdgeOptions;
  for (const key of ['e0', 'pre1', 'pre2', 'norm1', 'norm2'] as const) finite(WHAT, key, options[key]);
  num(WHAT, 'step', options.step, 1, { min: 0, minOpen: true, max: Infinity });
  num(WHAT, 'nnorm', options.nnorm, 0, { min: 0, max: MAX_NNORM, integer: true });
  num(WHAT, 'nvict', options.nvict, 0, { min: -MAX_NVICT, max: MAX_NVICT });
  num(WHAT, 'npre', options.npre, 1, { min: 0, max: 1, integer: true });
  bool(WHAT, 'makeFlat', options.makeFlat, true);
  return options;
}

/** Last i with e[i] − e0 ≤ v, 0 below the first (indexOf on the grid relative to e0, without building it). */
function indexOfRelative(e: Float64Array, e0: number, v: number): number {
  const n = e.length;
  if (n === 0 || !(v >= e[0]! - e0)) return 0;
  let lo = 0;
  let hi = n - 1;
  if (e[hi]! - e0 <= v) return hi;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (e[mid]! - e0 <= v) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * The fits of pre_edge on a clean spectrum, computing only the arrays the fits read (the fitted
 * ranges), so that callers needing just e0 and the edge step build no full-length arrays.
 */
function fitEdge(e: Float64Array, y: Float64Array, options: PreEdgeOptions, requireEdge = true): EdgeFit {
  const n = e.length;
  if (n < 10) throw new RangeError(`preEdge needs at least 10 finite points, got ${n}`);
  const emin = e[0]!;
  const emax = e[n - 1]!;

  let e0 = options.e0;
  if (e0 === undefined || e0 < e[1]! || e0 > e[n - 2]!) e0 = findE0Clean(e, y);
  const ie0 = indexNearest(e, e0);

  let nvict = options.nvict ?? 0;
  let npre = options.npre ?? 1;
  let pre1 = options.pre1 ?? (ie0 > 20 ? 5 * roundHalfEven((e[1]! - e0) / 5) : 2 * roundHalfEven((e[1]! - e0) / 2));
  pre1 = Math.max(pre1, emin - e0);
  let pre2 = options.pre2 ?? 0.5 * pre1;
  if (pre1 > pre2) [pre1, pre2] = [pre2, pre1];
  if (indexOfRelative(e, e0, pre2) - indexOfRelative(e, e0, pre1) < 3) {
    nvict = 0;
    npre = 0;
  }

  let norm2 = options.norm2 ?? 5 * roundHalfEven((emax - e0) / 5);
  if (norm2 < 0) norm2 = emax - e0 - norm2;
  norm2 = Math.min(norm2, emax - e0);
  let norm1 = options.norm1 ?? Math.min(25, 5 * roundHalfEven(norm2 / 15));
  if (norm1 > norm2) [norm1, norm2] = [norm2, norm1];
  norm1 = Math.min(norm1, norm2 - 2);
  let nnorm = options.nnorm ?? (norm2 - norm1 < 30 ? 0 : norm2 - norm1 < 300 ? 1 : 2);

  // Pre-edge line over [p1, p2).
  let p1 = indexOf(e, pre1 + e0);
  let p2 = indexNearest(e, pre2 + e0);
  let preOffset: number;
  let preSlope: number;
  if (npre === 0) {
    if (p2 === p1) p2 += 1;
    let s = 0;
    for (let i = p1; i < p2; i++) s += y[i]!;
    preOffset = s / (p2 - p1);
    preSlope = 0;
    nvict = 0;
  } else {
    if (p2 - p1 < 2) p2 = Math.min(n, p1 + 2);
    const omu = fitValues(p2 - p1);
    for (let i = p1; i < p2; i++) {
      omu[i - p1] = y[i]! * e[i]! ** nvict;
      // E^nvict of E ≤ 0 (energies relative to e0) is NaN or infinite: the option, not μ, is at fault.
      if (!Number.isFinite(omu[i - p1]!)) throw new RangeError(`preEdge: nvict = ${nvict} needs energies > 0 in the pre-edge range (E^nvict), got E = ${e[i]} eV`);
    }
    const c = polyfit(e.subarray(p1, p2), omu, 1);
    preOffset = c[0]!;
    preSlope = c[1]!;
  }

  // Post-edge polynomial of μ − pre-edge over [p1, p2): the point nearest e0 + norm2 is excluded.
  p1 = indexOf(e, norm1 + e0);
  p2 = indexNearest(e, norm2 + e0);
  if (p1 > n - 3) p1 = n - 3;
  if (p2 - p1 < 2) {
    p1 -= 2;
    nnorm = 0;
  } else if (p2 - p1 < 5) {
    nnorm = Math.min(1, nnorm);
  }
  p1 = Math.max(0, p1);
  // A range that ends below its start (norm2 below the data once swapped and clipped) holds no point.
  if (p2 <= p1) throw new RangeError(`preEdge: the normalisation range norm1 = ${norm1}, norm2 = ${norm2} eV (from e0 = ${e0}) holds no data point`);
  const presub = fitValues(p2 - p1);
  for (let i = p1; i < p2; i++) presub[i - p1] = y[i]! - preEdgeAt(preOffset, preSlope, nvict, e[i]!);
  const normCoefs = polyfit(e.subarray(p1, p2), presub, nnorm);

  const pre0 = preEdgeAt(preOffset, preSlope, nvict, e[ie0]!);
  let edgeStep = options.step ?? pre0 + polyval(normCoefs, e[ie0]!) - pre0;
  // Larch floors the step at 1e-12; a step that small (or within rounding of μ) is no edge, so
  // the check makes the floor moot.
  if (requireEdge) checkEdgeStep(WHAT, options.step === undefined ? 'edge step' : 'step', edgeStep, y);
  edgeStep = Math.abs(edgeStep);
  return { e0, ie0, edgeStep, preOffset, preSlope, normCoefs, pre1, pre2, norm1, norm2, nnorm, nvict, npre };
}

/** The values a fit of fitEdge reads, in one array reused by every spectrum (each is consumed before the next is built). */
let fitScratch = new Float64Array(0);

function fitValues(n: number): Float64Array {
  if (fitScratch.length < n) fitScratch = new Float64Array(Math.max(n, 2 * fitScratch.length));
  return fitScratch.subarray(0, n);
}

/** The pre-edge line at energy x. */
function preEdgeAt(offset: number, slope: number, nvict: number, x: number): number {
  return (offset + slope * x) * x ** -nvict;
}

/**
 * e0 and the edge step exactly as preEdge finds them, without its full-length arrays (AUTOBK
 * needs nothing else). `clean`: the input is known to be left unchanged by cleaning (finite,
 * increasing, no near-duplicate energies), so it is used as it is.
 */
export function preEdgeStep(energy: ArrayLike<number>, mu: ArrayLike<number>, optionsIn: PreEdgeOptions = {}, clean = false): { e0: number; edgeStep: number } {
  const options = checkOptions(optionsIn);
  let e: Float64Array;
  let y: Float64Array;
  if (clean && energy instanceof Float64Array && mu instanceof Float64Array) {
    e = energy;
    y = mu;
  } else {
    const c = cleanSpectrum(energy, mu, 'preEdge');
    e = c.energy;
    y = c.mu;
  }
  checkSignal(WHAT, y);
  const fit = fitEdge(e, y, options);
  return { e0: fit.e0, edgeStep: fit.edgeStep };
}

/**
 * The ranges, degrees and e0 pre_edge resolves on a grid, whatever μ is (no signal or edge
 * check): the fixed design of edgeStepMap. Returns them with what cleaning did to the grid.
 */
export function preEdgeRanges(energy: Float64Array, options: PreEdgeOptions = {}): Omit<EdgeFit, 'edgeStep' | 'preOffset' | 'preSlope' | 'normCoefs'> & CleanReport {
  const opts = checkOptions(options);
  const clean = cleanSpectrum(energy, new Float64Array(energy.length), WHAT);
  const { e0, ie0, pre1, pre2, norm1, norm2, nnorm, nvict, npre } = fitEdge(clean.energy, clean.mu, opts, false);
  return { e0, ie0, pre1, pre2, norm1, norm2, nnorm, nvict, npre, droppedNonFinite: clean.droppedNonFinite, sorted: clean.sorted, separatedDuplicates: clean.separatedDuplicates };
}

type CleanReport = Pick<PreEdgeResult, 'droppedNonFinite' | 'sorted' | 'separatedDuplicates'>;

/**
 * Larch's pre_edge: cleans the spectrum, finds e0 when needed, fits the pre-edge line over
 * [pre1, pre2) and the post-edge polynomial over [norm1, norm2) (eV from e0), and returns the
 * edge step, the normalised and flattened μ and the parameters used. An error names the option
 * or the data at fault (fewer than 10 finite points, no edge, an empty range).
 */
export function preEdge(energy: ArrayLike<number>, mu: ArrayLike<number>, optionsIn: PreEdgeOptions = {}): PreEdgeResult {
  const options = checkOptions(optionsIn);
  const clean = cleanSpectrum(energy, mu, 'preEdge');
  const e = clean.energy;
  const y = clean.mu;
  const n = e.length;
  checkSignal(WHAT, y);
  const fit = fitEdge(e, y, options);
  const { e0, ie0, edgeStep, preOffset, preSlope, normCoefs, nvict } = fit;

  const preEdgeArr = new Float64Array(n);
  for (let i = 0; i < n; i++) preEdgeArr[i] = preEdgeAt(preOffset, preSlope, nvict, e[i]!);
  const presub = new Float64Array(n);
  for (let i = 0; i < n; i++) presub[i] = y[i]! - preEdgeArr[i]!;
  const postEdge = new Float64Array(n);
  for (let i = 0; i < n; i++) postEdge[i] = preEdgeArr[i]! + polyval(normCoefs, e[i]!);
  const norm = new Float64Array(n);
  for (let i = 0; i < n; i++) norm[i] = presub[i]! / edgeStep;

  let flat: Float64Array | null = null;
  if (options.makeFlat ?? true) {
    // Flattened: the post-edge curvature removed above e0, anchored at e0.
    flat = new Float64Array(n);
    const r0 = (postEdge[ie0]! - preEdgeArr[ie0]!) / edgeStep;
    for (let i = 0; i < n; i++) {
      flat[i] = i < ie0 ? norm[i]! : norm[i]! - ((postEdge[i]! - preEdgeArr[i]!) / edgeStep - r0);
    }
  }

  return {
    energy: e,
    mu: y,
    e0,
    ie0,
    edgeStep,
    preEdge: preEdgeArr,
    postEdge,
    norm,
    flat,
    preOffset,
    preSlope,
    normCoefs,
    pre1: fit.pre1,
    pre2: fit.pre2,
    norm1: fit.norm1,
    norm2: fit.norm2,
    nnorm: fit.nnorm,
    nvict,
    npre: fit.npre,
    droppedNonFinite: clean.droppedNonFinite,
    sorted: clean.sorted,
    separatedDuplicates: clean.separatedDuplicates,
  };
}
