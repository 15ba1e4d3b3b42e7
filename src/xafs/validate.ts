/**
 * Checks of the XAFS functions' inputs at their public boundary: every option is checked once,
 * before any allocation or loop whose size depends on it, and a bad one is an error that names
 * the function, the field, the value and the allowed range (RangeError; TypeError for a value of
 * the wrong type). The ranges, derived from the science and from what keeps float64 finite, are
 * here so that every function (and autobkBatch's CPU and GPU back ends, through autobkSettings)
 * gives the same verdict.
 */

/** Largest k (Å⁻¹) and R (Å) of any grid, window sill or transform range: EXAFS ends near 25 Å⁻¹. */
export const MAX_K = 100;
export const MAX_R = 100;
/** Largest |k-weight| or R-weight: Larch's fits use 0–3; k^5 at k = 100 still squares within float64. */
export const MAX_KWEIGHT = 5;
/** FFT sizes: powers of two (Larch's default 2048); 2^16 points hold a 0.001 Å⁻¹ grid to k = 65. */
export const MIN_NFFT = 256;
export const MAX_NFFT = 65536;
/** k grid step (Å⁻¹): Larch's default 0.05. */
export const MIN_KSTEP = 1e-3;
export const MAX_KSTEP = 1;
/**
 * Largest |μ|: no count rate or absorbance comes near it, and AUTOBK's clamp rows grow as μ³
 * (their scale is the mean square of the Fourier rows), which stays finite below it.
 */
export const MAX_MU = 1e30;
/** Smallest max|μ| of a spectrum with a signal: below it AUTOBK's sums of squares underflow. */
export const MIN_MU = 1e-30;
/**
 * An edge step at or below this fraction of max|μ| (or not finite) is no edge: a dead channel or
 * constant μ, where a fitted step is rounding noise (≈ 1e-16·|μ|) and χ = noise / step.
 */
export const DEAD_STEP_RATIO = 1e-10;
/** Larch's floor of the edge step: a step at or below it is no edge either (it would be replaced by the floor). */
export const MIN_EDGE_STEP = 1e-12;

/** A value for a message: numbers as JavaScript prints them, other things by type, never long. */
export function show(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

export interface NumberRule {
  min: number;
  /** Infinity: no upper bound (the value must still be finite). */
  max: number;
  /** The bound is excluded (min < v rather than min ≤ v). */
  minOpen?: boolean;
  integer?: boolean;
  /** Unit printed after the range. */
  unit?: string;
}

function ruleText(r: NumberRule): string {
  const kind = r.integer ? 'an integer' : 'a number';
  const hi = r.max === Infinity ? '∞)' : `${r.max}]`;
  return `must be ${kind} in ${r.minOpen ? '(' : '['}${r.min}, ${hi}${r.unit ? ` ${r.unit}` : ''}`;
}

/** `v` (or `dflt` when undefined) checked against the rule. */
export function num(what: string, name: string, v: unknown, dflt: number, rule: NumberRule): number {
  if (v === undefined) return dflt;
  return checkNum(what, name, v, rule);
}

/** A required number checked against the rule. */
export function checkNum(what: string, name: string, v: unknown, rule: NumberRule): number {
  if (typeof v !== 'number') throw new TypeError(`${what}: ${name} = ${show(v)} ${ruleText(rule)}`);
  const ok = Number.isFinite(v) && (rule.minOpen ? v > rule.min : v >= rule.min) && v <= rule.max && (!rule.integer || Number.isInteger(v));
  if (!ok) throw new RangeError(`${what}: ${name} = ${v} ${ruleText(rule)}`);
  return v;
}

/** An optional finite number of any size (positions that the functions clip to the data). */
export function finite(what: string, name: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number') throw new TypeError(`${what}: ${name} = ${show(v)} must be a finite number`);
  if (!Number.isFinite(v)) throw new RangeError(`${what}: ${name} = ${v} must be a finite number`);
  return v;
}

/** nfft: a power of two in [MIN_NFFT, MAX_NFFT]. */
export function nfftOf(what: string, v: unknown, dflt = 2048): number {
  if (v === undefined) return dflt;
  const rule = `must be a power of two in [${MIN_NFFT}, ${MAX_NFFT}]`;
  if (typeof v !== 'number') throw new TypeError(`${what}: nfft = ${show(v)} ${rule}`);
  if (!(Number.isInteger(v) && v >= MIN_NFFT && v <= MAX_NFFT && (v & (v - 1)) === 0)) throw new RangeError(`${what}: nfft = ${v} ${rule}`);
  return v;
}

export function bool(what: string, name: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new TypeError(`${what}: ${name} = ${show(v)} must be true or false`);
  return v;
}

/** An options argument: undefined (no options) or a plain object. */
export function optionsObject<T>(what: string, name: string, v: T | undefined): T | Record<string, never> {
  if (v === undefined) return {};
  if (v === null || typeof v !== 'object' || Array.isArray(v) || ArrayBuffer.isView(v)) {
    throw new TypeError(`${what}: ${name} must be an object, got ${show(v)}`);
  }
  return v;
}

/** An array of numbers: a plain array or a numeric typed array (its entries are checked by the caller). */
export function arrayOf(what: string, name: string, v: unknown): ArrayLike<number> {
  const ok = Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView || v instanceof BigInt64Array || v instanceof BigUint64Array));
  if (!ok) throw new TypeError(`${what}: ${name} must be an array or typed array of numbers, got ${show(v)}`);
  return v as ArrayLike<number>;
}

/** An array of numbers that are all finite. */
export function finiteArray(what: string, name: string, v: unknown): ArrayLike<number> {
  const a = arrayOf(what, name, v);
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as unknown;
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new RangeError(`${what}: ${name}[${i}] = ${show(x)} must be a finite number`);
  }
  return a;
}

/** The largest |μ| of clean (finite) μ, checked against [MIN_MU, MAX_MU]: outside, a fit has no signal or overflows. */
export function checkSignal(what: string, mu: Float64Array): number {
  let m = 0;
  for (let i = 0; i < mu.length; i++) m = Math.max(m, Math.abs(mu[i]!));
  if (!(m >= MIN_MU && m <= MAX_MU)) {
    const why = m === 0 ? 'μ is 0 everywhere: no signal (a dead channel)' : `max|μ| must be in [${MIN_MU}, ${MAX_MU}] (scale μ)`;
    throw new RangeError(`${what}: mu: max|μ| = ${m}; ${why}`);
  }
  return m;
}

/**
 * An edge step that is an edge: finite and above MIN_EDGE_STEP and DEAD_STEP_RATIO·max|μ| in magnitude. `name`
 * says where it came from (an option, or the fit).
 */
export function checkEdgeStep(what: string, name: string, step: number, mu: Float64Array): void {
  let m = 0;
  for (let i = 0; i < mu.length; i++) m = Math.max(m, Math.abs(mu[i]!));
  const bound = Math.max(MIN_EDGE_STEP, DEAD_STEP_RATIO * m);
  if (!(Number.isFinite(step) && Math.abs(step) > bound)) {
    throw new RangeError(`${what}: ${name} = ${step} must be finite with |${name}| > max(${MIN_EDGE_STEP}, ${DEAD_STEP_RATIO}·max|μ|) = ${bound}: no edge in μ (a dead channel or constant μ)`);
  }
}

/**
 * A fitted curve that is finite everywhere. Options that leave the spline unconstrained (clamps
 * of 0 with a window that vanishes at the ends, more knots than rbkg resolves) can let the
 * coefficients grow until the spline overflows: that fit is an error, not NaN in the result.
 */
export function checkFitFinite(what: string, name: string, values: ArrayLike<number>, nknots: number): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) {
      throw new RangeError(`${what}: the fit diverged (${name}[${i}] = ${values[i]}) with nknots = ${nknots}: the options leave the spline unconstrained (clamps near 0, a window that vanishes at the ends, or more knots than rbkg resolves): raise clampLo/clampHi, use fewer knots or a larger rbkg`);
    }
  }
}
