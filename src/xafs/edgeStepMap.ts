/**
 * pre_edge's edge step of a packed series (many μ rows on one energy grid, one e0) as one fixed
 * linear functional of μ, so that the steps of a whole series are a single weighted sum per row
 * (on the GPU: only the samples the fits read are uploaded).
 *
 * For a fixed clean grid, e0 and options, fitEdge in preEdge.ts does, with index ranges and
 * degrees that depend on the grid, e0 and the options only:
 *   - pre-edge line over [a1, a2): μ·E^nvict fitted with a line, pre(E) = (c0 + c1·E)·E^−nvict
 *     (npre = 0: the mean of μ over [a1, a2), nvict forced to 0);
 *   - post-edge polynomial of degree nnorm fitted to μ − pre(E) over [b1, b2);
 *   - step s = (pre(x0) + post(x0)) − pre(x0), x0 = E[ie0], the grid energy nearest e0 (not e0
 *     itself), the post polynomial extrapolated there;
 *   - edgeStep = |s|, and an error (no edge) unless s is finite with |s| above
 *     max(1e-12, 1e-10·max|μ|) (validate.ts, checkEdgeStep), or max|μ| is outside [1e-30, 1e30].
 * Every fit is a linear least-squares solve on a fixed design, so s = Σ w_i·μ_i. The only
 * non-linear steps are the final |s| and the no-edge check; the map gives the signed s, and a
 * caller takes |s| after the same checks (checkSignal, checkEdgeStep) to get preEdge's edgeStep
 * or its error.
 *
 * Non-finite μ: preEdge's cleaning drops every row whose μ is not finite, anywhere on the grid,
 * then recomputes all ranges on the shorter grid; the functional cannot follow that. A caller
 * must send any spectrum with a non-finite μ (planSeries: any |μ| ≥ 1e30) to preEdge, and check
 * that Σ w_i·μ_i is finite (huge finite μ can still overflow it). A step near the no-edge bound is
 * a cancellation of the two fits, whose relative agreement with preEdge is then lost: such a
 * spectrum's verdict may differ from preEdge's (a caller can refit it with preEdge).
 */
import { indexNearest, indexOf } from '../math/interp.js';
import { applyReflector, householderQr } from '../math/linalg.js';
import { preEdgeRanges, type PreEdgeOptions } from './preEdge.js';

/** preEdge's edge step as a linear map of μ on one energy grid (for a series: one dot product per spectrum instead of two polynomial fits). */
export interface EdgeStepMap {
  /** First index of μ the fits read (the first pre-edge sample, or the first post-edge one if lower). */
  start: number;
  /**
   * The signed step is Σ_i weights[i]·μ[start + i]; preEdge's edgeStep is |that| (see the checks above).
   * Spans up to the last sample either fit reads; samples between the two ranges weigh 0.
   */
  weights: Float64Array;
}

/** numpy's domain map of a fit over x[start:end), as polyfit uses it: [lo, hi] onto [−1, 1]. */
interface FitRange {
  start: number;
  end: number;
  deg: number;
  mid: number;
  half: number;
}

function fitRange(x: Float64Array, start: number, end: number, deg: number): FitRange {
  // The grid is increasing, so the ends are the extremes; a single abscissa keeps the identity
  // map (only possible for degree 0, where the map does not matter).
  const lo = x[start]!;
  const hi = x[end - 1]!;
  return hi > lo ? { start, end, deg, mid: (hi + lo) / 2, half: (hi - lo) / 2 } : { start, end, deg, mid: 0, half: 1 };
}

/** 1, u, u², … at u = (v − mid)/half. */
function basisAt(r: FitRange, v: number, out = new Float64Array(r.deg + 1)): Float64Array {
  const u = (v - r.mid) / r.half;
  let p = 1;
  for (let j = 0; j <= r.deg; j++) {
    out[j] = p;
    p *= u;
  }
  return out;
}

/**
 * q with Σ_i q_i·y[start + i] = tᵀ·c for the least-squares coefficients c (in the mapped basis)
 * of every y: q = X(XᵀX)⁻¹t = Q·R⁻ᵀ·t with X = QR, so the normal matrix is never formed.
 * preEdge's own polyfit of the same range succeeded, so X has full rank here.
 */
function fitFunctional(x: Float64Array, r: FitRange, t: Float64Array): Float64Array {
  const m = r.end - r.start;
  const n = r.deg + 1;
  const a = new Float64Array(m * n);
  const rdiag = new Float64Array(n);
  const col = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    basisAt(r, x[r.start + i]!, col);
    for (let j = 0; j < n; j++) a[j * m + i] = col[j]!;
  }
  householderQr(a, m, n, rdiag, new Float64Array(0), 0);
  // Rᵀz = t by forward substitution (R's element (k, j), k < j, is a[j·m + k]), then q = Q·[z; 0]:
  // Q = H_0·H_1·…·H_{n−1}, so the reflectors apply last to first.
  const q = new Float64Array(m);
  for (let j = 0; j < n; j++) {
    let s = t[j]!;
    for (let k = 0; k < j; k++) s -= a[j * m + k]! * q[k]!;
    q[j] = s / rdiag[j]!;
  }
  for (let j = n - 1; j >= 0; j--) applyReflector(a, j * m, j, m, q, 0, 1);
  return q;
}

/**
 * The weights of preEdge(energy, μ, { e0, ...options }).edgeStep (signed, see above) as a
 * function of μ on this grid, or null where that step is not one fixed linear functional, so the
 * caller runs preEdge per spectrum:
 *   - options.step is given (the step is that constant for every μ);
 *   - the e0 used ({ e0, ...options }.e0, as planSeries passes it) is missing or outside
 *     [E[1], E[n−2]]: preEdge then finds e0 from the data (findE0);
 *   - the grid is not clean (non-finite, unsorted or near-duplicate energies): preEdge's
 *     cleaning would reorder or move samples, so indices would not be those of μ;
 *   - preEdge fails on this grid with these options for every μ (fewer than 10 points, a range
 *     too short for its fit degree, non-finite options): the per-spectrum path reports it;
 *   - the step is non-finite for every μ: E^nvict or E^−nvict not finite on a fitted sample
 *     (energies < 0 with a fractional nvict, or E = 0 with nvict ≠ 0), so preEdge's step is NaN
 *     or infinite whatever μ is.
 */
export function edgeStepMap(energy: Float64Array, e0: number, options: PreEdgeOptions = {}): EdgeStepMap | null {
  const opts: PreEdgeOptions = { e0, ...options };
  const n = energy.length;
  const e0Used = opts.e0;
  if (opts.step !== undefined || e0Used === undefined || !(e0Used >= energy[1]! && e0Used <= energy[n - 2]!)) return null;

  // preEdge resolves the ranges and degrees (defaults, swaps, clipping, the short pre-edge
  // fallback to npre = 0) from the grid, e0 and options alone; preEdgeRanges reports them, and
  // fails exactly when preEdge would for every μ.
  let fit: ReturnType<typeof preEdgeRanges>;
  try {
    fit = preEdgeRanges(energy, opts);
  } catch (err) {
    if (err instanceof RangeError || err instanceof TypeError) return null;
    throw err;
  }
  if (fit.droppedNonFinite !== 0 || fit.sorted || fit.separatedDuplicates !== 0) return null;
  const { ie0, nvict, npre } = fit;

  // The index ranges fitEdge derives from the resolved values (same expressions, same order).
  const a1 = indexOf(energy, fit.pre1 + e0Used);
  let a2 = indexNearest(energy, fit.pre2 + e0Used);
  if (npre === 0) {
    if (a2 === a1) a2 += 1;
  } else if (a2 - a1 < 2) {
    a2 = Math.min(n, a1 + 2);
  }
  let b1 = indexOf(energy, fit.norm1 + e0Used);
  const b2 = indexNearest(energy, fit.norm2 + e0Used);
  if (b1 > n - 3) b1 = n - 3;
  if (b2 - b1 < 2) b1 -= 2;
  b1 = Math.max(0, b1);

  const start = Math.min(a1, b1);
  const weights = new Float64Array(Math.max(a2, b2) - start);

  // Post-edge: q_i = weight of (μ − pre)_i in the polynomial's value at x0.
  const x0 = energy[ie0]!;
  const post = fitRange(energy, b1, b2, fit.nnorm);
  const q = fitFunctional(energy, post, basisAt(post, x0));
  for (let i = b1; i < b2; i++) weights[i - start]! += q[i - b1]!;

  // Pre-edge: subtracting pre(E_i) from every post-edge sample takes Σ_i q_i·pre(E_i) from the step.
  if (npre === 0) {
    let qsum = 0;
    for (const v of q) qsum += v;
    const w = qsum / (a2 - a1);
    for (let j = a1; j < a2; j++) weights[j - start]! -= w;
  } else {
    // pre(E) = [1, u(E)]·c·E^−nvict with c fitted to μ·E^nvict: Σ_i q_i·pre(E_i) = hᵀc.
    const line = fitRange(energy, a1, a2, 1);
    const h = new Float64Array(2);
    const b = new Float64Array(2);
    for (let i = b1; i < b2; i++) {
      const x = energy[i]!;
      const s = q[i - b1]! * x ** -nvict;
      basisAt(line, x, b);
      h[0]! += s * b[0]!;
      h[1]! += s * b[1]!;
    }
    const p = fitFunctional(energy, line, h);
    for (let j = a1; j < a2; j++) weights[j - start]! -= p[j - a1]! * energy[j]! ** nvict;
  }

  for (const w of weights) if (!Number.isFinite(w)) return null;
  return { start, weights };
}
