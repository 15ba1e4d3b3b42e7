/**
 * Index look-ups and linear interpolation on sorted grids, with numpy's and Larch's conventions
 * (Larch's index_of / index_nearest, numpy.interp's constant extension).
 */

/** 0 when `v` is below the first value, else the last index i with `a[i] <= v` (a sorted). */
export function indexOf(a: ArrayLike<number>, v: number): number {
  const n = a.length;
  if (n === 0 || !(v >= a[0]!)) return 0;
  let lo = 0;
  let hi = n - 1;
  if (a[hi]! <= v) return hi;
  // Invariant: a[lo] <= v < a[hi].
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! <= v) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** argmin |a[i] − v|, the first index on ties (a sorted ascending). */
export function indexNearest(a: ArrayLike<number>, v: number): number {
  const n = a.length;
  if (n === 0) return 0;
  const i = indexOf(a, v);
  let best = i;
  let bestD = Math.abs(a[i]! - v);
  // On a sorted grid the nearest point is i or i+1; earlier equal values win ties.
  for (let j = i - 1; j >= 0 && Math.abs(a[j]! - v) <= bestD; j--) {
    best = j;
    bestD = Math.abs(a[j]! - v);
  }
  if (i + 1 < n && Math.abs(a[i + 1]! - v) < bestD) best = i + 1;
  return best;
}

/**
 * numpy.interp: piecewise-linear interpolation of (xp, fp) at x, constant beyond the ends.
 * `xp` must be ascending. Writes into `out` (may be a fresh array) and returns it.
 */
export function interpLinear(
  x: ArrayLike<number>,
  xp: ArrayLike<number>,
  fp: ArrayLike<number>,
  out: Float64Array = new Float64Array(x.length),
): Float64Array {
  const n = xp.length;
  const last = n - 1;
  let j = 0;
  for (let i = 0; i < x.length; i++) {
    const xi = x[i]!;
    if (xi <= xp[0]!) {
      out[i] = fp[0]!;
    } else if (xi >= xp[last]!) {
      out[i] = fp[last]!;
    } else {
      // Ascending x (the usual resampling) finds its interval a step or two after the last one.
      let steps = 0;
      if (xp[j]! <= xi) while (steps++ < 4 && xp[j + 1]! <= xi) j++;
      if (!(xp[j]! <= xi && xi < xp[j + 1]!)) j = indexOf(xp, xi);
      const x0 = xp[j]!;
      const x1 = xp[j + 1]!;
      const f0 = fp[j]!;
      out[i] = xi === x0 ? f0 : f0 + ((fp[j + 1]! - f0) * (xi - x0)) / (x1 - x0);
    }
  }
  return out;
}

/** Python's round(): half to even, as in Larch's pre-edge range defaults. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
