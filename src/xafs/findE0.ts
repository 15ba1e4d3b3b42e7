/**
 * Larch's find_e0: the edge energy as the point of largest (smoothed) derivative dμ/dE, found in
 * two passes (a coarse one on all points, then a Lorentzian-smoothed one within ±75 points).
 * Every quirk of Larch is kept because users compare e0 values exactly; see the spec §2.
 */
import { interpLinear } from '../math/interp.js';
import { realFftPlan } from '../math/fft.js';
import { cleanSpectrum } from './xafsUtils.js';

/** Python's min(a, b) / max(a, b): NaN in the second place is never chosen. */
const pyMin = (a: number, b: number): number => (b < a ? b : a);
const pyMax = (a: number, b: number): number => (b > a ? b : a);

/**
 * The last findEnergyStep call (its energies, settings and answer): find_e0 asks it about the
 * same grid for every spectrum of a series, and comparing the grid costs a fraction of the answer.
 */
let lastStep: { energy: Float64Array; fracIgnore: number; nave: number; step: number } | null = null;

function sameValues(a: Float64Array, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

/** Mean of the smallest successive energy differences (Larch's find_energy_step). */
export function findEnergyStep(energy: ArrayLike<number>, fracIgnore = 0.01, nave = 10): number {
  if (lastStep !== null && lastStep.fracIgnore === fracIgnore && lastStep.nave === nave && sameValues(lastStep.energy, energy)) return lastStep.step;
  const step = energyStep(energy, fracIgnore, nave);
  lastStep = { energy: Float64Array.from(energy), fracIgnore, nave, step };
  return step;
}

function energyStep(energy: ArrayLike<number>, fracIgnore: number, nave: number): number {
  const n = energy.length;
  const nskip = Math.trunc(fracIgnore * n);
  // Larch slices [nskip:-nskip], which is empty when nskip is 0: the step is then NaN.
  if (nskip === 0) return NaN;
  let ascending = true;
  for (let i = 1; i < n && ascending; i++) ascending = energy[i - 1]! <= energy[i]!;
  const sorted = ascending && energy instanceof Float64Array ? energy : Float64Array.from(energy).sort();
  const len = n - 2 * nskip;
  if (len < 2) return NaN;
  const stop = Math.min(len - 1, nskip + nave);
  if (stop <= nskip) return NaN;
  // Only the `stop` smallest differences are used, in ascending order: an insertion-sorted
  // buffer of them gives the same values as sorting all of them.
  const smallest = new Float64Array(stop);
  let count = 0;
  for (let i = 0; i < len - 1; i++) {
    const d = sorted[nskip + i + 1]! - sorted[nskip + i]!;
    // A typed-array sort puts NaN last: it only fills a buffer that still has room.
    const lastNaN = count > 0 && Number.isNaN(smallest[count - 1]!);
    if (count === stop && !(d < smallest[stop - 1]! || (lastNaN && !Number.isNaN(d)))) continue;
    let k = count < stop ? count++ : stop - 1;
    if (!Number.isNaN(d)) {
      while (k > 0 && !(smallest[k - 1]! <= d)) {
        smallest[k] = smallest[k - 1]!;
        k--;
      }
    }
    smallest[k] = d;
  }
  let s = 0;
  for (let i = nskip; i < stop; i++) s += smallest[i]!;
  return s / (stop - nskip);
}

/**
 * Kernel transforms by npts: scans of one beamline share a few (the smoothed window spans ±75
 * points around the first guess, whose energy span moves with it).
 */
const kernelCache = new Map<number, { spectrum: Float64Array; sum: number }>();
const MAX_KERNELS = 32;

/**
 * Spectrum (nfft-point real FFT; nfft follows from npts) and sum of the kernel
 * w[m] = 1/(π(1 + (m − npts)²)), m < 2·npts.
 */
function lorentzianKernel(npts: number, nfft: number): { spectrum: Float64Array; sum: number } {
  const cached = kernelCache.get(npts);
  if (cached !== undefined) return cached;
  const w = new Float64Array(nfft);
  let sum = 0;
  for (let m = 0; m < 2 * npts; m++) {
    const d = m - npts;
    w[m] = 1 / (Math.PI * (1 + d * d));
    sum += w[m]!;
  }
  const spectrum = new Float64Array(nfft + 2);
  realFftPlan(nfft).forward(w, spectrum);
  const kernel = { spectrum, sum };
  if (kernelCache.size >= MAX_KERNELS) kernelCache.clear();
  kernelCache.set(npts, kernel);
  return kernel;
}

/**
 * Larch's smooth(x, y, sigma=xstep, xstep): y resampled on a uniform grid, convolved with a
 * unit-area Lorentzian of half-width one grid step (mirror-padded), interpolated back to x.
 */
export function lorentzianSmooth(x: Float64Array, y: Float64Array, xstep: number, out: Float64Array = new Float64Array(x.length)): Float64Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of x) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const xmin = xstep * Math.trunc((lo - 5 * xstep) / xstep);
  const xmax = xstep * Math.trunc((hi + 5 * xstep) / xstep);
  const npts = Math.min(1 + Math.trunc(Math.abs(xmax - xmin + 0.1 * xstep) / xstep), 50 * x.length);
  const np = 3 * npts - 1;
  // 'valid' convolution: out[j] = Σ_m w[m]·ypad[j + 2·npts − 1 − m], done by FFT (the direct sum
  // is O(npts²) and npts reaches thousands on fine grids). Only the outputs j + nw − 1 < 3·npts − 1
  // are read, and a circular convolution of length ≥ np = 3·npts − 1 leaves exactly those free of
  // wrap-around, so the transform need not hold the full linear convolution (nw + np − 1 points).
  let nfft = 4;
  while (nfft < np) nfft *= 2;
  // The grid, one zero-padded work signal (padded data, then the convolution) and a spectrum.
  const [x0, work, fy] = smoothArrays(npts, nfft);
  const span = xmax - xmin;
  // numpy.linspace: start + i·step, with the last point exactly xmax.
  for (let i = 0; i < npts; i++) x0[i] = npts > 1 ? xmin + (i * span) / (npts - 1) : xmin;
  if (npts > 1) x0[npts - 1] = xmax;
  const plan = realFftPlan(nfft);
  const nw = 2 * npts;
  const { spectrum: fw, sum: wsum } = lorentzianKernel(npts, nfft);
  // Mirror padding y0[npts−1..1], y0, y0 reversed, with y0 resampled in place.
  interpLinear(x0, x, y, work.subarray(npts - 1, 2 * npts - 1));
  for (let i = 0; i < npts - 1; i++) work[i] = work[2 * npts - 2 - i]!;
  for (let i = 0; i < npts; i++) work[2 * npts - 1 + i] = work[2 * npts - 2 - i]!;
  work.fill(0, np);
  plan.forward(work, fy);
  for (let k = 0; k <= nfft / 2; k++) {
    const ar = fw[2 * k]!, ai = fw[2 * k + 1]!, br = fy[2 * k]!, bi = fy[2 * k + 1]!;
    fy[2 * k] = ar * br - ai * bi;
    fy[2 * k + 1] = ar * bi + ai * br;
  }
  plan.inverse(fy, work);
  const y2 = fy;
  for (let j = 0; j < npts; j++) y2[j] = work[j + nw - 1]! / wsum;
  return interpLinear(x, x0, y2, out);
}

/** lorentzianSmooth's grid, work signal and spectrum, reused from call to call (find_e0 smooths once per spectrum). */
let smoothBuffer = new Float64Array(0);

function smoothArrays(npts: number, nfft: number): [Float64Array, Float64Array, Float64Array] {
  const need = npts + 2 * nfft + 2;
  if (smoothBuffer.length < need) smoothBuffer = new Float64Array(Math.max(need, 2 * smoothBuffer.length));
  const b = smoothBuffer;
  return [b.subarray(0, npts), b.subarray(npts, npts + nfft), b.subarray(npts + nfft, need)];
}

/** findE0Pass's derivative and its smoothed copy, reused from spectrum to spectrum. */
let derivBuffer = new Float64Array(0);

interface FindE0Pass {
  e0: number;
  index: number;
  estep: number;
}

/** Larch's _finde0 on energies already free of duplicates. */
function findE0Pass(energyIn: Float64Array, muIn: Float64Array, estepIn: number | null, useSmooth: boolean): FindE0Pass {
  // Larch keeps the indices where diff(argsort(E)) == 1, which on sorted input drops the last point.
  const n = energyIn.length - 1;
  if (n < 3) return { e0: energyIn[0] ?? NaN, index: 0, estep: estepIn ?? NaN };
  const en = energyIn.subarray(0, n);
  const mu = muIn.subarray(0, n);
  const estep = estepIn ?? findEnergyStep(en);
  const nmin = Math.max(3, Math.trunc(0.02 * n));
  if (derivBuffer.length < 2 * n) derivBuffer = new Float64Array(Math.max(2 * n, 2 * derivBuffer.length));
  const grad = derivBuffer.subarray(0, n);
  // numpy.gradient: one-sided at the ends, central inside; the two spacings cancel.
  grad[0] = (mu[1]! - mu[0]!) / (en[1]! - en[0]!);
  for (let i = 1; i < n - 1; i++) grad[i] = (mu[i + 1]! - mu[i - 1]!) / (en[i + 1]! - en[i - 1]!);
  grad[n - 1] = (mu[n - 1]! - mu[n - 2]!) / (en[n - 1]! - en[n - 2]!);
  const d = useSmooth ? lorentzianSmooth(en, grad, estep, derivBuffer.subarray(n, 2 * n)) : grad;
  // Non-finite values become −1, then min and max over [nmin, n − nmin), in one sweep.
  let dmin = Infinity;
  let dmax = -Infinity;
  for (let i = 0; i < n; i++) {
    let v = d[i]!;
    if (!Number.isFinite(v)) d[i] = v = -1;
    if (i >= nmin && i < n - nmin) {
      dmin = Math.min(dmin, v);
      dmax = Math.max(dmax, v);
    }
  }
  const ptp = Math.max(1e-10, dmax - dmin);
  let dhigh = n <= 20 ? 0.3 : 0.6;
  let count = 0;
  for (let i = 0; i < n; i++) {
    const v = (d[i]! - dmin) / ptp;
    d[i] = v;
    if (v > dhigh) count++;
  }
  let useAll = false;
  if (count < 3) {
    for (let pass = 0; pass < 2 && count <= 3; pass++) {
      dhigh *= 0.5;
      count = 0;
      for (let i = 0; i < n; i++) if (d[i]! > dhigh) count++;
    }
  }
  if (count < 3) useAll = true;
  // The largest d[i] (strictly) with i and both neighbours in H, for nmin ≤ i ≤ n − nmin; H is
  // {d > dhigh}, or every finite value when too few were high (a loop of its own for each case).
  let imax = 0;
  let best = 0;
  const iEnd = Math.min(n - 1, n - nmin);
  if (useAll) {
    for (let i = nmin; i <= iEnd; i++) {
      const v = d[i]!;
      if (Number.isFinite(v) && v > best && i + 1 < n && Number.isFinite(d[i + 1]!) && Number.isFinite(d[i - 1]!)) {
        imax = i;
        best = v;
      }
    }
  } else {
    for (let i = nmin; i <= iEnd; i++) {
      const v = d[i]!;
      if (v > dhigh && v > best && i + 1 < n && d[i + 1]! > dhigh && d[i - 1]! > dhigh) {
        imax = i;
        best = v;
      }
    }
  }
  return { e0: en[imax]!, index: imax, estep };
}

/**
 * Edge energy of a spectrum (Larch's find_e0): normally one of the energy grid values. Input is
 * cleaned first (non-finite rows dropped, sorted, duplicates separated).
 */
export function findE0(energy: ArrayLike<number>, mu: ArrayLike<number>): number {
  const c = cleanSpectrum(energy, mu, 'findE0');
  return findE0Clean(c.energy, c.mu);
}

/** findE0 on arrays that are already clean (sorted, unique, finite). */
export function findE0Clean(energy: Float64Array, mu: Float64Array): number {
  const n = energy.length;
  if (n < 10) throw new RangeError(`findE0 needs at least 10 points, got ${n}`);
  const first = findE0Pass(energy, mu, null, false);
  let e1 = first.e0;
  let istart = Math.max(3, first.index - 75);
  let istop = Math.min(first.index + 75, n - 3);
  if (first.index < 0.05 * n) {
    // An edge this early is suspicious: search the whole spectrum again around its mean energy.
    let s = 0;
    for (let i = 0; i < n; i++) s += energy[i]!;
    e1 = s / n;
    istart = Math.max(3, first.index - 20);
    istop = n - 3;
  }
  const estep = 0.5 * (pyMax(0.01, pyMin(1, first.estep)) + pyMax(0.01, pyMin(1, e1 / 25000)));
  const second = findE0Pass(energy.subarray(istart, istop), mu.subarray(istart, istop), estep, true);
  return second.index < 1 ? energy[istart + 2]! : second.e0;
}
