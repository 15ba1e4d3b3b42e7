/**
 * Larch's AUTOBK background removal (spec §4, §6), split into reusable pieces:
 *
 * - `autobkSetup` (= `autobkGrids` + `fourierDesign`) builds everything that does not depend on the spline coefficients c: grids,
 *   knots, initial coefficients, the B-spline basis on the uniform k grid and on the fitted data
 *   points, the data part of χ (cubic-spline interpolation of μ onto the k grid) and the
 *   Fourier-transformed design `A` and data vector `b`, so that the FFT rows of the residual are
 *   `A·c + b` exactly. `autobkGrids` itself is `autobkSettings` (options), `autobkEdge` (e0 and
 *   edge step), `autobkPlan` (everything fixed by the grid, e0 and the options) and
 *   `autobkSpectrumPart` (what μ adds), so that a batch can share one plan among the spectra
 *   that have the same grid and e0 and still run autobk's own operations;
 * - `AutobkProblem` evaluates residuals (FFT rows and clamp rows) and the exact Jacobian, where
 *   only the clamp rows depend on c, through the scale s(c); `AutobkReducedProblem` is the same
 *   problem with the constant FFT rows folded into their R factor (`factorFourierDesign`, shareable
 *   by the spectra of one plan);
 * - `autobkSolve` runs Levenberg–Marquardt; `autobkResult` turns coefficients into Larch's outputs;
 * - `autobk` composes them.
 */
import { LevenbergMarquardt, type LeastSquaresProblem, type LmOptions, type LmResult } from '../math/levenbergMarquardt.js';
import { SplineInterpolator, evalBasis, splineBasis, type SplineBasis } from '../math/bspline.js';
import { indexNearest, indexOf, interpLinear } from '../math/interp.js';
import { applyHouseholderQt, float64Views, householderQr, invertSpd } from '../math/linalg.js';
import { erf, studentTPpf } from '../math/studentT.js';
import { truncatedRealDft, twiddleTable, type TwiddleTable } from '../math/truncatedDft.js';
import { ftwindow, windowName, type WindowName } from './ftwindow.js';
import { preEdgeStep, type PreEdgeOptions } from './preEdge.js';
import { ETOK, cleanSpectrum } from './xafsUtils.js';
import { MAX_K, MAX_KSTEP, MAX_KWEIGHT, MAX_NFFT, MIN_KSTEP, bool, checkEdgeStep, checkFitFinite, checkSignal, finite, finiteArray, nfftOf, num, optionsObject } from './validate.js';

/**
 * Larch's autobk options. Each is checked once, before anything is sized by it, and a value
 * outside its range is an error naming it, its value and the range (src/xafs/validate.ts).
 */
export interface AutobkOptions {
  /**
   * R (Å) below which χ(R) is minimised (default 1), in (0, 10]; floored at 2·π/(kstep·nfft). It
   * must leave at least as many Fourier residuals (2 per R bin below rbkg) as there are knots.
   */
  rbkg?: number;
  /** Number of spline knots instead of the Nyquist count: an integer ≥ 1, clipped to [5, 128] with a warning. */
  nknots?: number;
  /** Edge energy for k = 0 (Larch's ek0/e0), within the energy range; from preEdge when missing. */
  e0?: number;
  /**
   * Edge step, used only to scale χ; from preEdge when missing. Finite, with |edgeStep| above
   * 1e-10·max|μ| (a smaller step is no edge).
   */
  edgeStep?: number;
  /** Start of the fitted k range (Å⁻¹), in [0, 100] and below kmax (default 0). */
  kmin?: number;
  /**
   * End of the fitted k range (Å⁻¹), finite: default (or negative) the largest k of the data;
   * larger values are clipped to it. The range used must end at k ≤ 100 Å⁻¹.
   */
  kmax?: number;
  /** k-weight of the residual transform, in [0, 5] (default 1). */
  kweight?: number;
  /** Window sill width (Å⁻¹; Kaiser's β), in [0, 100] (default 0.1). */
  dk?: number;
  /** Window name: hanning (default), parzen, welch, kaiser, gaussian or sine (first three letters count). */
  win?: WindowName | string;
  /** FFT size: a power of two in [256, 65536] (default 2048), with room for the k grid (kmax/kstep + 1 points). */
  nfft?: number;
  /** k grid step (Å⁻¹), in [0.001, 1] (default 0.05). */
  kstep?: number;
  /** Optional standard χ(k) subtracted inside the fit (with kStd: on that grid, else on k); finite values. */
  kStd?: ArrayLike<number>;
  /** Standard χ(k) values (Larch's chi_std), on kStd when given, else on the k grid; subtracted inside the fit. Default none. */
  chiStd?: ArrayLike<number>;
  /** Points of χ(k) at each end held towards zero: an integer in [0, 100] (default 3), at most half the k points. */
  nclamp?: number;
  /** Weights of the clamp rows at low and high k: |value| ≤ 1000 (defaults 0 and 1; the sign is ignored). */
  clampLo?: number;
  /** Weight of the clamp rows at high k (Larch's clamp_hi): |value| ≤ 1000, default 1; the sign is ignored. */
  clampHi?: number;
  /** Options of the internal preEdge call (checked by preEdge). */
  preEdgeOptions?: PreEdgeOptions;
  /** Also return the uncertainty bands deltaChi and deltaBkg (default false). */
  calcUncertainties?: boolean;
  /** Width of those bands in standard deviations, in (0, 5] (default 1). */
  errSigma?: number;
  /**
   * Solver settings; default Larch's leastsq tolerances (ftol = xtol = 1e-6, gtol = 0). ftol, xtol
   * and gtol in [0, 1], maxfev an integer in [1, 1e6], factor in (0, 1000].
   */
  lm?: LmOptions;
}

/** Everything of one AUTOBK fit that does not depend on the spline coefficients: grids, knots, the initial spline, the B-spline bases and the Fourier-transformed design (A, b). */
export interface AutobkSetup {
  /** Cleaned input (sorted, duplicates separated, finite). */
  energy: Float64Array;
  /** μ on `energy`, cleaned with it. */
  mu: Float64Array;
  /** Edge energy (eV) for k = 0 (Larch's ek0): the e0 option, or preEdge's. */
  e0: number;
  /** Edge step that χ is divided by: the edgeStep option, or preEdge's. */
  edgeStep: number;
  /** Index of the last energy ≤ e0, and of the last fitted energy. */
  iek0: number;
  /** Index in `energy` of the last fitted point (Larch's iemax). */
  iemax: number;
  /** k of the fitted energy points energy[iek0..iemax] (nFit = iemax − iek0 + 1). */
  kraw: Float64Array;
  /** Uniform output grid kstep·(0..nk−1). */
  kout: Float64Array;
  /** k^kweight · window on kout. */
  ftwin: Float64Array;
  /** R (Å) below which χ(R) is minimised, after the floor at 2·π/(kstep·nfft). */
  rbkg: number;
  /** Start of the fitted k range (Å⁻¹). */
  kmin: number;
  /** End of the fitted k range (Å⁻¹), after clipping to the data. */
  kmax: number;
  /** Step of the uniform k grid `kout` (Å⁻¹). */
  kstep: number;
  /** FFT size of the residual transform (a power of two). */
  nfft: number;
  /** Number of spline coefficients (knots of the background spline; Larch's nspl). */
  nspl: number;
  /** Number of R bins below rbkg whose real and imaginary parts are residuals (Larch's irbkg). */
  irbkg: number;
  /** Points of χ(k) held towards zero at each end of the k range. */
  nclamp: number;
  /** Weight of the low-k clamp rows (|clampLo| as given). */
  clampLo: number;
  /** Weight of the high-k clamp rows (|clampHi| as given). */
  clampHi: number;
  /** Knot vector (nspl + 4) and initial coefficients (nspl). */
  knots: Float64Array;
  /** Initial spline coefficients (nspl), from the interpolating spline through the knot values. */
  initCoefs: Float64Array;
  /** k of each knot value of the initial spline (Larch's spl_k), Å⁻¹. */
  splK: Float64Array;
  /** μ averaged near each knot (Larch's spl_y): the values the initial spline interpolates. */
  splY: Float64Array;
  /**
   * Indices (from iek0) of the μ samples behind each splY: knot i averages (2·μ[a] + μ[b] + μ[c])/4
   * with a, b, c = knotSamples[3i..3i+3), so splY, initCoefs and chiData are linear in μ.
   */
  knotSamples: Int32Array;
  /** B-spline basis on kout and on kraw (4 non-zeros per row). */
  basisK: SplineBasis;
  /** B-spline basis on kraw (the fitted energy points): 4 non-zeros per row. */
  basisE: SplineBasis;
  /** Data part of χ on kout: cubic-spline interpolation of μ(kraw) (χ = chiData − Σ c_j B_j). */
  chiData: Float64Array;
  /** χ_std on kout, or null. */
  chiStd: Float64Array | null;
  /** FFT rows r_fft = A·c + b: A column-major (2·irbkg × nspl), column j = transform of −ftwin·B_j. */
  A: Float64Array;
  /** Data part of the FFT rows (2·irbkg): the transform of ftwin·(chiData − chiStd). */
  b: Float64Array;
  /** Things the setup adjusted (kmax or nknots clipped), in words. */
  warnings: string[];
}

/** Larch's autobk_details: the fit's grids, knots, coefficients and solver statistics. */
export interface AutobkDetails {
  /** Number of spline coefficients fitted (Larch's nspl). */
  nspl: number;
  /** Number of R bins below rbkg in the residual (Larch's irbkg). */
  irbkg: number;
  /** Index in the cleaned energy grid of the last point at or below e0 (Larch's iek0). */
  iek0: number;
  /** Index in the cleaned energy grid of the last fitted point (Larch's iemax). */
  iemax: number;
  /** Start of the fitted k range used (Å⁻¹). */
  kmin: number;
  /** End of the fitted k range used (Å⁻¹), after clipping to the data. */
  kmax: number;
  /** rbkg used (Å), after the floor at 2·π/(kstep·nfft). */
  rbkg: number;
  /** Knot vector of the background spline in k (nspl + 4 values, Å⁻¹). */
  knots: Float64Array;
  /** Final coefficients (nspl) and their standard errors (null if the covariance is singular). */
  coefs: Float64Array;
  /** Standard errors of `coefs`, √(redchi·covar_jj); null when the covariance is singular. */
  coefsStd: Float64Array | null;
  /** Initial spline coefficients (nspl; Larch's init_coefs). */
  initCoefs: Float64Array;
  /** Abscissae and values of the initial interpolating spline (Larch's spl_k, init_knots_y). */
  splK: Float64Array;
  /** Values of the initial interpolating spline at splK (Larch's init_knots_y). */
  initKnotsY: Float64Array;
  /** (JᵀJ)⁻¹ at the solution, nspl × nspl row-major, or null when singular. */
  covar: Float64Array | null;
  /** Sum of squared residuals at the solution (Larch's chisqr). */
  chisqr: number;
  /** chisqr / (2·irbkg + 2·nclamp − nspl), NaN without degrees of freedom (Larch's redchi). */
  redchi: number;
  /** Residual evaluations of the solver (Larch's nfev). */
  nfev: number;
  /** Jacobian evaluations of the solver. */
  njev: number;
  /** Levenberg–Marquardt stop code (MINPACK's info: 1–4 converged, 5 evaluation limit); see lmReason. */
  lmInfo: number;
  /** The stop code in words. */
  lmReason: string;
  /** χ(k) of the initial spline, on k, divided by the edge step (Larch's init_chi). */
  initChi: Float64Array;
  /** Background of the initial spline, on the cleaned energy grid (Larch's init_bkg). */
  initBkg: Float64Array;
  /** k^kweight · window on the k grid: the weight of the residual transform (Larch's ftwin). */
  ftwin: Float64Array;
  /** What the fit adjusted (kmax or nknots clipped), in words; empty when nothing was. */
  warnings: string[];
}

/** Larch's autobk outputs for one spectrum (the arrays Larch puts in the group, camelCase). */
export interface AutobkResult {
  /** Cleaned energy grid the arrays refer to. */
  energy: Float64Array;
  /** μ on `energy` (cleaned with it). */
  mu: Float64Array;
  /** Edge energy (eV) used for k = 0 (Larch's ek0, also e0). */
  e0: number;
  /** Edge step χ is divided by (Larch's edge_step). */
  edgeStep: number;
  /** Background μ₀(E) on `energy`: the fitted spline on the fitted points (e0 to the end of the k range), μ itself elsewhere (Larch's bkg). */
  bkg: Float64Array;
  /** χ(E) = (μ − bkg) / edgeStep on `energy` (Larch's chie). */
  chie: Float64Array;
  /** Uniform k grid of χ, kstep·(0…nk−1), Å⁻¹ (Larch's k). */
  k: Float64Array;
  /** χ(k) on `k`, divided by the edge step, not k-weighted (Larch's chi). */
  chi: Float64Array;
  /** Uncertainty band of χ(k) (errSigma standard deviations; Larch's delta_chi), with calcUncertainties only. */
  deltaChi?: Float64Array;
  /** Uncertainty band of bkg on `energy` (Larch's delta_bkg), with calcUncertainties only. */
  deltaBkg?: Float64Array;
  /** The fit's grids, knots, coefficients and statistics (Larch's autobk_details). */
  details: AutobkDetails;
  /** Rows dropped for non-finite values, whether sorting was needed, duplicates separated. */
  droppedNonFinite: number;
  /** Whether the input energies had to be sorted. */
  sorted: boolean;
  /** Duplicate energies separated by 0.0005 eV, as Larch does. */
  separatedDuplicates: number;
}

/** Larch's FT prefactor inside the AUTOBK residual always uses kstep = 0.05, whatever kstep is. */
export const AUTOBK_RESIDUAL_FT_SCALE = 0.05 / Math.sqrt(Math.PI);
const RESID_FT_SCALE = AUTOBK_RESIDUAL_FT_SCALE;
export const MIN_KNOTS = 5;
export const MAX_KNOTS = 128;
const MIN_POINTS_ABOVE_E0 = 10;
/** No right-hand side to fold along with a factorisation. */
const NO_COLUMNS = new Float64Array(0);

/**
 * Column j of A = −s·F·diag(ftwin)·B(kout) (s = 0.05/√π, F the first irbkg bins of the
 * nfft-point DFT), column-major (2·irbkg × nspl). Column j only needs the k points where B_j is
 * non-zero (four knot intervals), so each column is a short truncated DFT of its support.
 */
export function fourierDesignMatrix(setup: Pick<AutobkSetup, 'kout' | 'ftwin' | 'basisK' | 'nspl' | 'irbkg' | 'nfft'>, A: Float64Array, scratch: Float64Array = new Float64Array(setup.kout.length)): void {
  const { kout, ftwin, basisK, nspl, irbkg, nfft } = setup;
  const table: TwiddleTable = twiddleTable(nfft);
  const rows = 2 * irbkg;
  const nk = kout.length;
  A.fill(0, 0, rows * nspl);
  const first = basisK.first;
  const vals = basisK.vals;
  // Rows are sorted by k, so first[] is non-decreasing and each column's support is contiguous.
  let lo = 0;
  for (let j = 0; j < nspl; j++) {
    while (lo < nk && first[lo]! + 3 < j) lo++;
    let hi = lo;
    while (hi < nk && first[hi]! <= j) {
      scratch[hi - lo] = -ftwin[hi]! * vals[4 * hi + j - first[hi]!]!;
      hi++;
    }
    truncatedRealDft(scratch, 0, hi - lo, lo, table, irbkg, RESID_FT_SCALE, A, j * rows);
  }
}

/** b = s·F·diag(ftwin)·(chiData − chiStd): the only part of the FFT rows that depends on μ. */
export function fourierDesignData(setup: Pick<AutobkSetup, 'kout' | 'ftwin' | 'chiData' | 'chiStd' | 'irbkg' | 'nfft'>, b: Float64Array, scratch: Float64Array = new Float64Array(setup.kout.length)): void {
  const { kout, ftwin, chiData, chiStd, irbkg, nfft } = setup;
  const nk = kout.length;
  b.fill(0, 0, 2 * irbkg);
  for (let i = 0; i < nk; i++) scratch[i] = ftwin[i]! * (chiData[i]! - (chiStd === null ? 0 : chiStd[i]!));
  truncatedRealDft(scratch, 0, nk, 0, twiddleTable(nfft), irbkg, RESID_FT_SCALE, b, 0);
}

/** The FFT rows r_fft = A·c + b of one fit: fourierDesignMatrix and fourierDesignData. */
export function fourierDesign(setup: Pick<AutobkSetup, 'kout' | 'ftwin' | 'basisK' | 'chiData' | 'chiStd' | 'nspl' | 'irbkg' | 'nfft'>, A: Float64Array, b: Float64Array, scratch: Float64Array = new Float64Array(setup.kout.length)): void {
  fourierDesignMatrix(setup, A, scratch);
  fourierDesignData(setup, b, scratch);
}

/** The setup without the Fourier design (A, b), for back ends that transform the basis themselves. */
export type AutobkGrids = Omit<AutobkSetup, 'A' | 'b'>;

/** What cleaning the input did (see cleanSpectrum). */
export interface AutobkCleaning {
  /** Rows dropped because energy or μ was not finite. */
  droppedNonFinite: number;
  /** Whether the input energies had to be sorted. */
  sorted: boolean;
  /** Duplicate energies separated by 0.0005 eV, as Larch does. */
  separatedDuplicates: number;
}

/** Everything of one AUTOBK fit that does not depend on the coefficients. */
export function autobkSetup(energyIn: ArrayLike<number>, muIn: ArrayLike<number>, options: AutobkOptions = {}): AutobkSetup & AutobkCleaning {
  const grids = autobkGrids(energyIn, muIn, options);
  const rows = 2 * grids.irbkg;
  const [A, b, scratch] = float64Views([rows * grids.nspl, rows, grids.kout.length]);
  const setup = { ...grids, A, b };
  fourierDesign(setup, A, b, scratch);
  return setup;
}

/** autobk's options checked and defaulted, in autobk's order of checks: the same for every spectrum of a batch. */
export interface AutobkSettings {
  kstep: number;
  nfft: number;
  /** As requested (the floor at 2·π/(kstep·nfft) is applied by the plan). */
  rbkg: number;
  kweight: number;
  dk: number;
  win: WindowName | string;
  nclamp: number;
  clampLo: number;
  clampHi: number;
  kmin: number;
  /** The options themselves, for what the plan reads later (kmax, nknots, χ_std). */
  options: AutobkOptions;
}

const WHAT = 'autobk';

/** The largest rbkg (Å): the background lies below the first shell (Larch's typical 0.5–1.5 Å). */
export const MAX_RBKG = 10;

export function autobkSettings(optionsIn: AutobkOptions): AutobkSettings {
  const options = optionsObject(WHAT, 'options', optionsIn) as AutobkOptions;
  const kstep = num(WHAT, 'kstep', options.kstep, 0.05, { min: MIN_KSTEP, max: MAX_KSTEP, unit: 'Å⁻¹' });
  const nfft = nfftOf(WHAT, options.nfft);
  const rbkg = num(WHAT, 'rbkg', options.rbkg, 1, { min: 0, minOpen: true, max: MAX_RBKG, unit: 'Å' });
  const kweight = num(WHAT, 'kweight', options.kweight, 1, { min: 0, max: MAX_KWEIGHT });
  const dk = num(WHAT, 'dk', options.dk, 0.1, { min: 0, max: MAX_K, unit: 'Å⁻¹' });
  const win = windowName(WHAT, 'win', options.win ?? 'hanning');
  const nclamp = num(WHAT, 'nclamp', options.nclamp, 3, { min: 0, max: 100, integer: true });
  const clampLo = Math.abs(num(WHAT, 'clampLo', options.clampLo, 0, { min: -MAX_CLAMP, max: MAX_CLAMP }));
  const clampHi = Math.abs(num(WHAT, 'clampHi', options.clampHi, 1, { min: -MAX_CLAMP, max: MAX_CLAMP }));
  const kmin = num(WHAT, 'kmin', options.kmin, 0, { min: 0, max: MAX_K, unit: 'Å⁻¹' });
  finite(WHAT, 'kmax', options.kmax);
  num(WHAT, 'nknots', options.nknots, MIN_KNOTS, { min: 1, max: Number.MAX_SAFE_INTEGER, integer: true });
  if (options.chiStd !== undefined) finiteArray(WHAT, 'chiStd', options.chiStd);
  if (options.kStd !== undefined) {
    if (options.chiStd === undefined) throw new TypeError(`${WHAT}: kStd is given without chiStd`);
    finiteArray(WHAT, 'kStd', options.kStd);
  }
  if (options.preEdgeOptions !== undefined) optionsObject(WHAT, 'preEdgeOptions', options.preEdgeOptions);
  bool(WHAT, 'calcUncertainties', options.calcUncertainties, false);
  num(WHAT, 'errSigma', options.errSigma, 1, { min: 0, minOpen: true, max: 5 });
  const lm = optionsObject(WHAT, 'lm', options.lm) as LmOptions;
  for (const key of ['ftol', 'xtol', 'gtol'] as const) num(WHAT, `lm.${key}`, lm[key], 0, { min: 0, max: 1 });
  num(WHAT, 'lm.maxfev', lm.maxfev, 1, { min: 1, max: 1e6, integer: true });
  num(WHAT, 'lm.factor', lm.factor, 100, { min: 0, minOpen: true, max: 1000 });
  return { kstep, nfft, rbkg, kweight, dk, win, nclamp, clampLo, clampHi, kmin, options };
}

/** Largest |clampLo|, |clampHi|: Larch's strong clamps are 10–20; the clamp rows must stay finite. */
export const MAX_CLAMP = 1000;

/**
 * e0 and the edge step of a clean spectrum: as given (checked), else from pre_edge (which cleans
 * its input again, as Larch's does, unless `idempotent` says that cleaning leaves it unchanged).
 * The edge step is returned as given or found, before autobk takes its absolute value. A μ with
 * no signal (max|μ| outside [1e-30, 1e30]) or no edge (a step within 1e-10·max|μ| of 0) is an error.
 */
export function autobkEdge(
  energy: Float64Array,
  mu: Float64Array,
  e0In: number | undefined,
  edgeStepIn: number | undefined,
  preEdgeOptions: PreEdgeOptions | undefined,
  idempotent = false,
): { e0: number; edgeStep: number } {
  let e0 = finite('autobk', 'e0', e0In);
  let edgeStep = finite('autobk', 'edgeStep', edgeStepIn);
  const ne = energy.length;
  checkSignal('autobk', mu);
  if (e0 !== undefined) {
    if (!Number.isFinite(e0) || e0 < energy[0]! || e0 > energy[ne - 1]!) {
      throw new RangeError(`autobk: e0 = ${e0} is outside the energy range [${energy[0]}, ${energy[ne - 1]}]`);
    }
  }
  if (edgeStep !== undefined) checkEdgeStep('autobk', 'edgeStep', edgeStep, mu);
  if (e0 === undefined || edgeStep === undefined) {
    const opts = e0 === undefined ? (preEdgeOptions ?? {}) : { e0, ...preEdgeOptions };
    const pre = preEdgeStep(energy, mu, opts, idempotent);
    e0 ??= pre.e0;
    edgeStep ??= pre.edgeStep;
  }
  return { e0, edgeStep };
}

/**
 * The part of autobkGrids fixed by the (clean) energy grid, e0 and the settings: everything but
 * the μ-dependent splY, initCoefs, chiData (and the edge step). The two interpolation problems
 * are factored here, so that a spectrum's own part costs two banded solves and one evaluation.
 */
export interface AutobkPlan extends Omit<AutobkGrids, 'mu' | 'edgeStep' | 'splY' | 'initCoefs' | 'chiData'> {
  /** The knot spline (abscissae splK) and the data spline (abscissae kraw), factored. */
  knotFit: SplineInterpolator;
  dataFit: SplineInterpolator;
  /** The data spline's basis on kout (χ_data = Σ d_j D_j(kout)). */
  dataBasisK: SplineBasis;
}

export function autobkPlan(energy: Float64Array, e0: number, settings: AutobkSettings): AutobkPlan {
  const { kstep, nfft, kweight, dk, win, nclamp, clampLo, clampHi, kmin, options } = settings;
  const ne = energy.length;
  const warnings: string[] = [];
  const iek0 = indexOf(energy, e0);
  const nAbove = ne - iek0 - 1;
  if (nAbove < MIN_POINTS_ABOVE_E0) {
    throw new RangeError(`autobk: only ${nAbove} energy points above e0 = ${e0} (need at least ${MIN_POINTS_ABOVE_E0})`);
  }
  const rgrid = Math.PI / (kstep * nfft);
  const rbkg = Math.max(settings.rbkg, 2 * rgrid);
  const nraw = ne - iek0;
  const kOf = (e: number): number => {
    const d = e - e0;
    return Math.sign(d) * Math.sqrt(ETOK * Math.abs(d));
  };
  const kdata = kOf(energy[ne - 1]!);
  let kmax: number;
  if (options.kmax === undefined || options.kmax < 0) {
    kmax = kdata;
  } else {
    kmax = options.kmax;
    if (kmax > kdata) {
      warnings.push(`kmax = ${kmax} is beyond the data; clipped to ${kdata}`);
      kmax = kdata;
    }
  }
  // A stray energy far above the scan (1e16 eV) would size the k grid: it is named here, before any array.
  if (!(kmax <= MAX_K)) {
    throw new RangeError(`autobk: kmax = ${kmax} Å⁻¹ (the data's end: energy ${energy[ne - 1]} eV, e0 = ${e0}) must be at most ${MAX_K} Å⁻¹: give a smaller kmax or drop the stray energies`);
  }
  if (!(kmax > kmin)) throw new RangeError(`autobk: kmin = ${kmin} must be below kmax = ${kmax}`);
  const nk = Math.trunc(1.01 + kmax / kstep);
  if (nk > nfft) {
    throw new RangeError(`autobk: nfft = ${nfft} is too small for the ${nk} k points up to kmax = ${kmax} at kstep = ${kstep}: nfft must be at least ${nk} (a power of two ≤ ${MAX_NFFT}), or raise kstep or lower kmax`);
  }
  const iemax = Math.min(ne, 2 + indexOf(energy, e0 + (kmax * kmax) / ETOK)) - 1;
  const nFit = iemax - iek0 + 1;
  if (nFit < 4) throw new RangeError(`autobk: only ${nFit} energy points between e0 and kmax`);

  let nspl = 1 + Math.trunc((2 * rbkg * (kmax - kmin)) / Math.PI);
  const irbkg = Math.trunc(1 + ((nspl - 1) * Math.PI) / (2 * rgrid * (kmax - kmin)));
  if (irbkg > nfft / 2) throw new RangeError(`autobk: rbkg = ${rbkg} needs ${irbkg} R bins, more than nfft/2 = ${nfft / 2}`);
  if (options.nknots !== undefined) nspl = options.nknots;
  if (nspl < MIN_KNOTS || nspl > MAX_KNOTS) {
    const clipped = Math.min(MAX_KNOTS, Math.max(MIN_KNOTS, nspl));
    warnings.push(`nknots = ${nspl} clipped to ${clipped}`);
    nspl = clipped;
  }
  const nres = 2 * irbkg + 2 * nclamp;
  if (nres < nspl) {
    throw new RangeError(`autobk: nknots = ${nspl} exceeds the ${nres} residuals (2·irbkg + 2·nclamp); lower nknots or raise rbkg`);
  }
  // The Fourier rows alone must determine the knots (the clamp rows only hold the ends): the
  // factor of the Fourier block (factorFourierDesign) needs 2·irbkg ≥ nspl.
  if (2 * irbkg < nspl) {
    // irbkg ≥ ⌈nspl/2⌉ needs 1 + (nspl_R − 1)·π/(2·rgrid·Δk) ≥ ⌈nspl/2⌉, nspl_R = 1 + ⌊2·rbkg·Δk/π⌋.
    const dkRange = kmax - kmin;
    const need = Math.max(2 * rgrid, (Math.ceil(((Math.ceil(nspl / 2) - 1) * 2 * rgrid * dkRange) / Math.PI) * Math.PI) / (2 * dkRange));
    throw new RangeError(`autobk: rbkg = ${settings.rbkg} Å gives ${irbkg} R bins below rbkg (${2 * irbkg} Fourier residuals) for ${nspl} knots: rbkg must be at least about ${need.toPrecision(3)} Å on this grid (bins of π/(kstep·nfft) = ${rgrid.toPrecision(3)} Å), or give fewer nknots`);
  }
  if (2 * nclamp > nk) throw new RangeError(`autobk: nclamp = ${nclamp} needs ${2 * nclamp} k points, only ${nk} available`);

  // Two buffers instead of a dozen typed arrays (each its own off-heap allocation): the arrays
  // that results keep, and those only the fit uses, so that a kept result holds no fit workspace.
  const [kout, ftwin, splK, knots] = float64Views([nk, nk, nspl, nspl + 4]);
  const [krawAll, valsK, valsE, valsD] = float64Views([nraw, 4 * nk, 4 * nFit, 4 * nk]);
  for (let i = 0; i < nraw; i++) krawAll[i] = kOf(energy[iek0 + i]!);
  const kraw = krawAll.subarray(0, nFit);
  for (let i = 0; i < nk; i++) kout[i] = kstep * i;
  ftwindow(kout, { xmin: kmin, xmax: kmax, dx: dk, dx2: dk, window: win }, ftwin);
  if (Number.isInteger(kweight) && kweight >= 0 && kweight <= 8) {
    // Products instead of pow: kweight is nearly always a small integer, and pow is slow.
    for (let i = 0; i < nk; i++) {
      let p = 1;
      for (let e = 0; e < kweight; e++) p *= kout[i]!;
      ftwin[i]! *= p;
    }
  } else {
    for (let i = 0; i < nk; i++) ftwin[i]! *= kout[i]! ** kweight;
  }

  // Initial spline through smoothed μ at nspl evenly spaced k; its abscissae fix the knots.
  const knotSamples = new Int32Array(3 * nspl);
  for (let i = 0; i < nspl; i++) {
    const q = kmin + (i * (kmax - kmin)) / (nspl - 1);
    const ik = indexNearest(krawAll, q);
    knotSamples[3 * i] = ik;
    knotSamples[3 * i + 1] = Math.min(nraw - 1, ik + 5);
    knotSamples[3 * i + 2] = Math.max(0, ik - 5);
    splK[i] = krawAll[ik]!;
    if (i > 0 && !(splK[i]! > splK[i - 1]!)) {
      const why = options.nknots === undefined ? `rbkg = ${settings.rbkg} asks for nknots = ${nspl}` : `nknots = ${nspl}`;
      throw new RangeError(`autobk: ${why}, too many for this energy grid: knots ${i - 1} and ${i} fall on the same point k = ${splK[i]}`);
    }
  }
  const knotFit = new SplineInterpolator(nspl);
  knotFit.factor(splK, nspl);
  knots.set(knotFit.knots.subarray(0, nspl + 4));

  // Data part of χ: the interpolating spline of μ on kraw, evaluated on kout (Larch's
  // UnivariateSpline(kraw, μ − bkg, s=0); the bkg part is reproduced exactly by B(kout)·c).
  const dataFit = new SplineInterpolator(nFit);
  dataFit.factor(kraw, nFit);
  const dataBasisK = splineBasis(dataFit.knots, nFit, kout, { first: new Int32Array(nk), vals: valsD });

  let chiStd: Float64Array | null = null;
  if (options.chiStd !== undefined) {
    const cs = options.chiStd;
    if (options.kStd !== undefined) {
      if (options.kStd.length !== cs.length) throw new RangeError(`autobk: kStd has ${options.kStd.length} points but chiStd has ${cs.length}`);
      chiStd = interpLinear(kout, options.kStd, cs);
    } else {
      if (cs.length !== nk) throw new RangeError(`autobk: chiStd without kStd must have the ${nk} points of the k grid, got ${cs.length}`);
      chiStd = Float64Array.from(cs);
    }
  }

  const basisK = splineBasis(knots, nspl, kout, { first: new Int32Array(nk), vals: valsK });
  const basisE = splineBasis(knots, nspl, kraw, { first: new Int32Array(nFit), vals: valsE });
  return {
    energy, e0, iek0, iemax, kraw, kout, ftwin, rbkg, kmin, kmax, kstep, nfft, nspl, irbkg, nclamp, clampLo, clampHi,
    knots, splK, knotSamples, basisK, basisE, chiStd, warnings, knotFit, dataFit, dataBasisK,
  };
}

/**
 * A spectrum's own part of the grids: splY (each knot averages (2·μ[a] + μ[b] + μ[c])/4),
 * the initial coefficients (the knot spline through splY) and χ_data on kout, into the arrays given.
 */
export function autobkSpectrumPart(plan: AutobkPlan, mu: Float64Array, splY: Float64Array, initCoefs: Float64Array, chiData: Float64Array): void {
  const { nspl, iek0, iemax, knotSamples, knotFit, dataFit, dataBasisK } = plan;
  for (let i = 0; i < nspl; i++) {
    splY[i] = (2 * mu[iek0 + knotSamples[3 * i]!]! + mu[iek0 + knotSamples[3 * i + 1]!]! + mu[iek0 + knotSamples[3 * i + 2]!]!) / 4;
  }
  knotFit.solve(splY);
  initCoefs.set(knotFit.coefs.subarray(0, nspl));
  dataFit.solve(mu.subarray(iek0, iemax + 1));
  evalBasis(dataBasisK, dataFit.coefs, chiData);
}

/**
 * Grids, knots, initial coefficients, basis and the data part of χ of one AUTOBK fit: all of
 * `autobkSetup` except the Fourier design, which costs as much as the rest together.
 */
export function autobkGrids(energyIn: ArrayLike<number>, muIn: ArrayLike<number>, options: AutobkOptions = {}): AutobkGrids & AutobkCleaning {
  const clean = cleanSpectrum(energyIn, muIn, 'autobk');
  const settings = autobkSettings(options);
  const { e0, edgeStep } = autobkEdge(clean.energy, clean.mu, options.e0, options.edgeStep, options.preEdgeOptions);
  const plan = autobkPlan(clean.energy, e0, settings);
  const { nspl } = plan;
  const [splY, initCoefs] = float64Views([nspl, nspl]);
  const chiData = new Float64Array(plan.kout.length);
  autobkSpectrumPart(plan, clean.mu, splY, initCoefs, chiData);
  const { energy, iek0, iemax, kraw, kout, ftwin, rbkg, kmin, kmax, kstep, nfft, irbkg, nclamp, clampLo, clampHi, knots, splK, knotSamples, basisK, basisE, chiStd, warnings } = plan;
  return {
    energy, mu: clean.mu, e0, edgeStep: Math.abs(edgeStep), iek0, iemax, kraw, kout, ftwin, rbkg, kmin, kmax, kstep, nfft,
    nspl, irbkg, nclamp, clampLo, clampHi, knots, initCoefs, splK, splY, knotSamples, basisK, basisE, chiData, chiStd, warnings,
    droppedNonFinite: clean.droppedNonFinite, sorted: clean.sorted, separatedDuplicates: clean.separatedDuplicates,
  };
}

/**
 * Sum of squares of Larch's residual vector (FFT rows and clamp rows) at coefficients c, in
 * float64 without the Fourier design: one truncated DFT of window·(χ − χ_std). With `grad`, also
 * the gradient Jᵀr (exact Jacobian, as AutobkProblem's) into it, through the adjoint DFT
 * Aᵀr = −Bᵀ·diag(ftwin)·Fᵀr. `scratch` holds 2·kout.length + 2·irbkg values.
 */
export function autobkChisqr(
  setup: AutobkGrids,
  c: ArrayLike<number>,
  grad: Float64Array | null = null,
  scratch: Float64Array = new Float64Array(2 * setup.kout.length + 2 * setup.irbkg),
): number {
  const { kout, ftwin, chiStd, irbkg, nfft, nclamp, clampLo, clampHi, basisK, nspl } = setup;
  const nk = kout.length;
  const rows = 2 * irbkg;
  const chi = chiOnK(setup, c, scratch.subarray(0, nk));
  if (chiStd !== null) for (let i = 0; i < nk; i++) chi[i]! -= chiStd[i]!;
  const clampW = (q: number): number => (q < nclamp ? clampLo : clampHi);
  const clampIdx = (q: number): number => (q < nclamp ? q : nk - 2 * nclamp + q);
  let clamp = 0;
  for (let q = 0; q < 2 * nclamp; q++) clamp += (clampW(q) * chi[clampIdx(q)]!) ** 2;
  const x = scratch.subarray(nk, 2 * nk);
  for (let i = 0; i < nk; i++) x[i] = ftwin[i]! * chi[i]!;
  const rfft = scratch.subarray(2 * nk, 2 * nk + rows);
  rfft.fill(0);
  const table = twiddleTable(nfft);
  truncatedRealDft(x, 0, nk, 0, table, irbkg, RESID_FT_SCALE, rfft, 0);
  let ss = 0;
  for (let i = 0; i < rows; i++) ss += rfft[i]! * rfft[i]!;
  const s = 0.1 + (10 * ss) / rows;
  if (grad !== null) {
    // x ← −ftwin·(Fᵀ r_fft); Fᵀ pairs Re with cos and Im with −sin of 2π·n·m/N.
    const { cos, sin } = table;
    for (let n = 0; n < nk; n++) {
      let acc = 0;
      let j = 0;
      for (let m = 0; m < irbkg; m++) {
        acc += rfft[2 * m]! * cos[j]! + rfft[2 * m + 1]! * sin[j]!;
        j += n;
        if (j >= nfft) j -= nfft;
      }
      x[n] = -ftwin[n]! * RESID_FT_SCALE * acc;
    }
    grad.fill(0, 0, nspl);
    for (let n = 0; n < nk; n++) {
      const f = basisK.first[n]!;
      for (let m = 0; m < 4; m++) grad[f + m]! += basisK.vals[4 * n + m]! * x[n]!;
    }
    if (nclamp > 0) {
      // Clamp rows w·s·χ_q: Jacobian w·(χ_q·∇s − s·B(k_q)), ∇s = (20/rows)·Aᵀr_fft.
      let dot = 0;
      for (let q = 0; q < 2 * nclamp; q++) {
        const w = clampW(q);
        dot += w * chi[clampIdx(q)]! * (w * s * chi[clampIdx(q)]!);
      }
      const ds = (20 / rows) * dot;
      for (let j = 0; j < nspl; j++) grad[j]! *= 1 + ds;
      for (let q = 0; q < 2 * nclamp; q++) {
        const i = clampIdx(q);
        const w = clampW(q);
        const rc = w * s * chi[i]!;
        const f = basisK.first[i]!;
        for (let m = 0; m < 4; m++) grad[f + m]! -= w * s * basisK.vals[4 * i + m]! * rc;
      }
    }
  }
  return nclamp === 0 ? ss : ss + s * s * clamp;
}

/** χ on kout at coefficients c, in μ units (not divided by the edge step), into out. */
function chiOnK(setup: AutobkGrids, c: ArrayLike<number>, out: Float64Array): Float64Array {
  const { basisK, chiData } = setup;
  evalBasis(basisK, c, out);
  for (let i = 0; i < out.length; i++) out[i] = chiData[i]! - out[i]!;
  return out;
}

/**
 * The clamp rows s(c)·w·χ(k_end) shared by the full and the reduced AUTOBK problems, with
 * s(c) = 0.1 + 10·mean((A·c + b)²), and their exact Jacobian, including the term (w·χ_end) ⊗ ∇s
 * that the Rust port leaves out.
 */
abstract class AutobkClampRows {
  /** Number of coefficients fitted (nspl). */
  readonly n: number;
  /** Rows of the Fourier block A, which the mean in s(c) divides by. */
  protected readonly fftRows: number;
  /** Indices on kout of the clamp rows and their weights. */
  private readonly clampIdx: Int32Array;
  private readonly clampW: Float64Array;
  /** ∇s at the point of the last jacobian call. */
  protected readonly grad: Float64Array;

  constructor(/** The fit this problem evaluates. */ readonly setup: AutobkSetup) {
    const { irbkg, nspl, nclamp, kout, clampLo, clampHi } = setup;
    this.n = nspl;
    this.fftRows = 2 * irbkg;
    this.clampIdx = new Int32Array(2 * nclamp);
    this.clampW = new Float64Array(2 * nclamp);
    for (let i = 0; i < nclamp; i++) {
      this.clampIdx[i] = i;
      this.clampW[i] = clampLo;
      this.clampIdx[nclamp + i] = kout.length - nclamp + i;
      this.clampW[nclamp + i] = clampHi;
    }
    this.grad = new Float64Array(nspl);
  }

  /** χ on kout at coefficients c, in μ units (not divided by the edge step), into out. */
  chi(c: ArrayLike<number>, out: Float64Array): Float64Array {
    return chiOnK(this.setup, c, out);
  }

  /** χ − χ_std at kout index i. */
  private chiFitAt(c: ArrayLike<number>, i: number): number {
    const { basisK, chiData, chiStd } = this.setup;
    const f = basisK.first[i]!;
    const v = basisK.vals;
    const bk = v[4 * i]! * c[f]! + v[4 * i + 1]! * c[f + 1]! + v[4 * i + 2]! * c[f + 2]! + v[4 * i + 3]! * c[f + 3]!;
    return chiData[i]! - bk - (chiStd === null ? 0 : chiStd[i]!);
  }

  /** Clamp residuals at scale s into out[o..]. */
  protected clampResiduals(c: ArrayLike<number>, s: number, out: Float64Array, o: number): void {
    for (let q = 0; q < this.clampIdx.length; q++) out[o + q] = this.clampW[q]! * s * this.chiFitAt(c, this.clampIdx[q]!);
  }

  /** Clamp rows o.. of the column-major m-row Jacobian, at scale s with ∇s in this.grad. */
  protected clampJacobian(c: ArrayLike<number>, s: number, jac: Float64Array, m: number, o: number): void {
    const { nspl, basisK } = this.setup;
    const g = this.grad;
    for (let q = 0; q < this.clampIdx.length; q++) {
      const i = this.clampIdx[q]!;
      const w = this.clampW[q]!;
      const chiI = this.chiFitAt(c, i);
      const f = basisK.first[i]!;
      for (let j = 0; j < nspl; j++) {
        const local = j - f;
        const bij = local >= 0 && local < 4 ? basisK.vals[4 * i + local]! : 0;
        jac[j * m + o + q] = w * (chiI * g[j]! - s * bij);
      }
    }
  }
}

/**
 * The AUTOBK least-squares problem as Larch states it: residuals [A·c + b; clamp rows], Jacobian
 * [A; clamp rows], where only the clamp rows depend on c, through the scale s(c).
 */
export class AutobkProblem extends AutobkClampRows implements LeastSquaresProblem {
  /** Number of residuals: 2·irbkg FFT rows plus 2·nclamp clamp rows. */
  readonly m: number;
  private readonly rfft: Float64Array;

  constructor(setup: AutobkSetup) {
    super(setup);
    this.m = this.fftRows + 2 * setup.nclamp;
    this.rfft = new Float64Array(this.fftRows);
  }

  /** r_fft = A·c + b into this.rfft; returns the clamp scale s(c). */
  private fftResiduals(c: ArrayLike<number>): number {
    const { A, b, nspl } = this.setup;
    const rows = this.fftRows;
    const r = this.rfft;
    r.set(b);
    for (let j = 0; j < nspl; j++) {
      const cj = c[j]!;
      const col = j * rows;
      for (let i = 0; i < rows; i++) r[i]! += A[col + i]! * cj;
    }
    let ss = 0;
    for (let i = 0; i < rows; i++) ss += r[i]! * r[i]!;
    return 0.1 + (10 * ss) / rows;
  }

  /** Residuals at coefficients c into `out` (m values): the Fourier rows, then the clamp rows. */
  residuals(c: Float64Array, out: Float64Array): void {
    const s = this.fftResiduals(c);
    out.set(this.rfft);
    this.clampResiduals(c, s, out, this.fftRows);
  }

  /** The exact Jacobian at c into `jac`, column-major (m × nspl). */
  jacobian(c: Float64Array, jac: Float64Array): void {
    const { A, nspl } = this.setup;
    const m = this.m;
    const rows = this.fftRows;
    for (let j = 0; j < nspl; j++) {
      for (let i = 0; i < rows; i++) jac[j * m + i] = A[j * rows + i]!;
    }
    if (m === rows) return;
    const s = this.fftResiduals(c);
    // ∇s = (20/rows)·Aᵀ(A c + b).
    const r = this.rfft;
    for (let j = 0; j < nspl; j++) {
      let acc = 0;
      const col = j * rows;
      for (let i = 0; i < rows; i++) acc += A[col + i]! * r[i]!;
      this.grad[j] = (20 * acc) / rows;
    }
    this.clampJacobian(c, s, jac, m, rows);
  }
}

/**
 * The Householder QR of a Fourier block A (2·irbkg × nspl): it depends on the grid, e0 and the
 * options only, so spectra that share them share it and fold only their own b.
 */
export interface FourierFactor {
  /** Rows of the Fourier block (2·irbkg). */
  rows: number;
  /** Columns of the Fourier block (spline coefficients). */
  nspl: number;
  /** Reflectors on and below the diagonal (column-major rows × nspl), and R's diagonal. */
  qr: Float64Array;
  /** R's diagonal (nspl). */
  rdiag: Float64Array;
  /** R (nspl × nspl, column-major, zero below the diagonal). */
  r: Float64Array;
}

/** The Householder QR of the Fourier block A (rows × nspl, column-major), for AutobkReducedProblem. */
export function factorFourierDesign(A: Float64Array, rows: number, nspl: number): FourierFactor {
  const [qr, rdiag, r] = float64Views([rows * nspl, nspl, nspl * nspl]);
  qr.set(A.subarray(0, rows * nspl));
  // A rank-deficient A (more knots than independent points) still factors: its zero pivots stay in R.
  householderQr(qr, rows, nspl, rdiag, NO_COLUMNS, 0);
  for (let j = 0; j < nspl; j++) {
    for (let i = 0; i < j; i++) r[j * nspl + i] = qr[j * rows + i]!;
    r[j * nspl + j] = rdiag[j]!;
  }
  return { rows, nspl, qr, rdiag, r };
}

/**
 * The same least-squares problem with the constant Fourier block folded by its QR factor,
 * A = Q·R: residuals [R·c + Qᵀb; clamp rows] (nspl + 2·nclamp rows) plus the constant
 * ‖b − QQᵀb‖² as `constantSsq`. JᵀJ, Jᵀr and ‖r‖ equal the full problem's, so Levenberg–Marquardt
 * takes the same steps while each iteration factors nspl + 2·nclamp rows instead of 2·irbkg + 2·nclamp.
 * The factor can be shared by every spectrum of one plan: after writing a new spectrum's b (and
 * chiData) into the setup's arrays, `loadData` folds it in.
 */
export class AutobkReducedProblem extends AutobkClampRows implements LeastSquaresProblem {
  /** Number of residuals: nspl rows of R·c + Qᵀb plus 2·nclamp clamp rows. */
  readonly m: number;
  private ssq = 0;
  private readonly factor: FourierFactor;
  /** Qᵀb (rows), its first nspl entries, and R·c + Qᵀb at the last evaluation. */
  private readonly y: Float64Array;
  private readonly qtb: Float64Array;
  private readonly rc: Float64Array;

  constructor(setup: AutobkSetup, factor: FourierFactor = factorFourierDesign(setup.A, 2 * setup.irbkg, setup.nspl)) {
    super(setup);
    const { nspl } = setup;
    if (factor.rows !== this.fftRows || factor.nspl !== nspl) {
      throw new RangeError(`AutobkReducedProblem: the factor is ${factor.rows} × ${factor.nspl}, the setup's Fourier block ${this.fftRows} × ${nspl}`);
    }
    this.factor = factor;
    this.m = nspl + 2 * setup.nclamp;
    [this.y, this.rc] = float64Views([this.fftRows, nspl]);
    this.qtb = this.y.subarray(0, nspl);
    this.loadData();
  }

  /** ‖b − QQᵀb‖²: the sum of squares of the FFT rows outside A's range. */
  get constantSsq(): number {
    return this.ssq;
  }

  /** Qᵀb of the setup's current b (the same operations as folding b along with the factorisation). */
  loadData(): void {
    const { qr, rdiag, rows, nspl } = this.factor;
    const y = this.y;
    y.set(this.setup.b.subarray(0, rows));
    applyHouseholderQt(qr, rows, nspl, rdiag, y);
    let ss = 0;
    for (let i = nspl; i < rows; i++) ss += y[i]! * y[i]!;
    this.ssq = ss;
  }

  /** R·c + Qᵀb into this.rc; returns the clamp scale s(c). */
  private fftResiduals(c: ArrayLike<number>): number {
    const n = this.n;
    const r = this.factor.r;
    const rc = this.rc;
    rc.set(this.qtb);
    for (let j = 0; j < n; j++) {
      const cj = c[j]!;
      const col = j * n;
      for (let i = 0; i <= j; i++) rc[i]! += r[col + i]! * cj;
    }
    let ss = this.ssq;
    for (let i = 0; i < n; i++) ss += rc[i]! * rc[i]!;
    return 0.1 + (10 * ss) / this.fftRows;
  }

  /** Residuals at coefficients c into `out` (m values): the Fourier rows, then the clamp rows. */
  residuals(c: Float64Array, out: Float64Array): void {
    const s = this.fftResiduals(c);
    out.set(this.rc);
    this.clampResiduals(c, s, out, this.n);
  }

  /** The exact Jacobian at c into `jac`, column-major (m × nspl). */
  jacobian(c: Float64Array, jac: Float64Array): void {
    const n = this.n;
    const m = this.m;
    const r = this.factor.r;
    for (let j = 0; j < n; j++) {
      for (let i = 0; i < n; i++) jac[j * m + i] = r[j * n + i]!;
    }
    if (m === n) return;
    const s = this.fftResiduals(c);
    // ∇s = (20/rows)·Aᵀ(A c + b) = (20/rows)·Rᵀ(R c + Qᵀb).
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let i = 0; i <= j; i++) acc += r[j * n + i]! * this.rc[i]!;
      this.grad[j] = (20 * acc) / this.fftRows;
    }
    this.clampJacobian(c, s, jac, m, n);
  }
}

/** What autobkSolve returns: the coefficients and the solver's state at the solution. */
export interface AutobkSolution {
  /** Fitted spline coefficients (nspl). */
  coefs: Float64Array;
  /** The solver's result: stop code, evaluations, sum of squares. */
  lm: LmResult;
  /** The solver's residuals and Jacobian (column-major, m × nspl) at the solution. */
  residuals: Float64Array;
  /** The Jacobian at the solution, column-major (m × nspl). */
  jacobian: Float64Array;
}

/**
 * Larch's leastsq tolerances. With the exact Jacobian the solver stops at a sum of squares at or
 * below Larch's; tighter tolerances reach the exact minimiser, which with strong clamps lies
 * ~2e-4·max|χ| from Larch's own (early-stopped) answer.
 */
export const AUTOBK_LM_DEFAULTS: Required<Pick<LmOptions, 'ftol' | 'xtol' | 'gtol'>> = { ftol: 1e-6, xtol: 1e-6, gtol: 0 };

/** The solver settings of a fit with nspl coefficients: Larch's tolerances and evaluation limit, then `options`. */
export function autobkLmOptions(nspl: number, options: LmOptions = {}): LmOptions {
  return { ...AUTOBK_LM_DEFAULTS, maxfev: 2000 * (nspl + 5), ...options };
}

/**
 * Levenberg–Marquardt from the initial coefficients, on the reduced problem unless another
 * formulation of the same residuals is given (solver reusable across fits of one shape).
 */
export function autobkSolve(
  setup: AutobkSetup,
  options: LmOptions = {},
  problem: LeastSquaresProblem & { readonly m: number; readonly n: number } = new AutobkReducedProblem(setup),
  solver?: LevenbergMarquardt,
): AutobkSolution {
  const lmSolver = solver ?? new LevenbergMarquardt(problem.m, problem.n);
  const [coefs, residuals, jacobian] = float64Views([setup.nspl, problem.m, problem.m * problem.n]);
  coefs.set(setup.initCoefs);
  const lm = lmSolver.solve(problem, coefs, autobkLmOptions(setup.nspl, options));
  residuals.set(lmSolver.fvec);
  problem.jacobian(coefs, jacobian);
  return { coefs, lm, residuals, jacobian };
}

/** Larch's outputs (bkg, chie, χ, details, optional uncertainties) from a solution. */
export function autobkResult(
  setup: AutobkSetup & { droppedNonFinite?: number; sorted?: boolean; separatedDuplicates?: number },
  solution: AutobkSolution,
  options: Pick<AutobkOptions, 'calcUncertainties' | 'errSigma'> = {},
): AutobkResult {
  const { energy, mu, iek0, kraw, kout, nspl, edgeStep, basisE, basisK } = setup;
  const { coefs, lm, jacobian } = solution;
  const m = jacobian.length / nspl;
  const nFit = kraw.length;

  const ne = energy.length;
  const nk = kout.length;
  // One buffer for the result's arrays (see autobkSetup).
  const [bkg, initBkg, chie, chi, initChi] = float64Views([ne, ne, ne, nk, nk]);
  bkg.set(mu);
  initBkg.set(mu);
  evalBasis(basisE, coefs, bkg.subarray(iek0, iek0 + nFit));
  evalBasis(basisE, setup.initCoefs, initBkg.subarray(iek0, iek0 + nFit));
  for (let i = 0; i < chie.length; i++) chie[i] = (mu[i]! - bkg[i]!) / edgeStep;
  chiOnK(setup, coefs, chi);
  chiOnK(setup, setup.initCoefs, initChi);
  for (let i = 0; i < kout.length; i++) {
    chi[i]! /= edgeStep;
    initChi[i]! /= edgeStep;
  }
  checkFitFinite('autobk', 'chi', chi, nspl);
  checkFitFinite('autobk', 'bkg', bkg, nspl);

  const chisqr = lm.chisqr;
  // Degrees of freedom of Larch's residual vector, whichever formulation was solved.
  const dof = 2 * setup.irbkg + 2 * setup.nclamp - nspl;
  const redchi = dof > 0 ? chisqr / dof : NaN;
  const jtj = new Float64Array(nspl * nspl);
  for (let a = 0; a < nspl; a++) {
    for (let c = 0; c <= a; c++) {
      let s = 0;
      for (let i = 0; i < m; i++) s += jacobian[a * m + i]! * jacobian[c * m + i]!;
      jtj[a * nspl + c] = s;
      jtj[c * nspl + a] = s;
    }
  }
  const covar = invertSpd(jtj, nspl);
  let coefsStd: Float64Array | null = null;
  if (covar !== null && dof > 0) {
    coefsStd = new Float64Array(nspl);
    for (let j = 0; j < nspl; j++) coefsStd[j] = Math.sqrt(redchi * covar[j * nspl + j]!);
  }

  const result: AutobkResult = {
    energy,
    mu,
    e0: setup.e0,
    edgeStep,
    bkg,
    chie,
    k: kout,
    chi,
    details: {
      nspl,
      irbkg: setup.irbkg,
      iek0,
      iemax: setup.iemax,
      kmin: setup.kmin,
      kmax: setup.kmax,
      rbkg: setup.rbkg,
      knots: setup.knots,
      coefs,
      coefsStd,
      initCoefs: setup.initCoefs,
      splK: setup.splK,
      initKnotsY: setup.splY,
      covar,
      chisqr,
      redchi,
      nfev: lm.nfev,
      njev: lm.njev,
      lmInfo: lm.info,
      lmReason: lm.reason,
      initChi,
      initBkg,
      ftwin: setup.ftwin,
      warnings: setup.warnings,
    },
    droppedNonFinite: setup.droppedNonFinite ?? 0,
    sorted: setup.sorted ?? false,
    separatedDuplicates: setup.separatedDuplicates ?? 0,
  };

  if (options.calcUncertainties && covar !== null && dof > 0) {
    // χ and bkg are linear in c: ∂χ/∂c_j = −B_j(kout), ∂bkg/∂c_j = B_j(kraw); band = t·√(redchi·JᵀCJ).
    const errSigma = options.errSigma ?? 1;
    const p = (1 + erf(errSigma / Math.SQRT2)) / 2;
    const band = (basis: SplineBasis, npts: number, out: Float64Array, offset: number): void => {
      const t = studentTPpf(p, npts - nspl);
      for (let i = 0; i < npts; i++) {
        const f = basis.first[i]!;
        let v = 0;
        for (let a = 0; a < 4; a++) {
          for (let c = 0; c < 4; c++) v += basis.vals[4 * i + a]! * basis.vals[4 * i + c]! * covar[(f + a) * nspl + f + c]!;
        }
        out[offset + i] = t * Math.sqrt(Math.max(0, v) * redchi);
      }
    };
    if (kout.length > nspl) {
      result.deltaChi = new Float64Array(kout.length);
      band(basisK, kout.length, result.deltaChi, 0);
    }
    if (nFit > nspl) {
      result.deltaBkg = new Float64Array(energy.length);
      band(basisE, nFit, result.deltaBkg, iek0);
    }
  }
  return result;
}

/**
 * AUTOBK background removal of one spectrum, with Larch's options, defaults and outputs. The
 * input is cleaned first (non-finite rows dropped, sorted, duplicate energies separated); the
 * result's `energy` is the cleaned grid.
 */
export function autobk(energy: ArrayLike<number>, mu: ArrayLike<number>, options: AutobkOptions = {}): AutobkResult {
  const setup = autobkSetup(energy, mu, options);
  const solution = autobkSolve(setup, options.lm);
  return autobkResult(setup, solution, options);
}
