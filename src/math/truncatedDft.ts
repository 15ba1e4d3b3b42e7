/**
 * The first few bins of a long zero-padded real DFT, evaluated directly:
 * X_m = Σ_n x_n e^{−2πi n m / N} for m < nbins. AUTOBK needs ~33 of the 1025 bins of a
 * 2048-point transform of ~350 non-zero samples, which costs ~12k complex multiply-adds directly
 * against ~50k flops for the full FFT; bench/autobk.bench.ts measures the two.
 *
 * The twiddles e^{−2πi j/N} are tabulated once per N (and cached), and the phase index n·m is
 * reduced mod N incrementally, so no trigonometric call happens per sample.
 */

export interface TwiddleTable {
  readonly n: number;
  readonly cos: Float64Array;
  /** sin(−2πj/N), i.e. already the forward transform's sign. */
  readonly sin: Float64Array;
}

const tables = new Map<number, TwiddleTable>();

export function twiddleTable(n: number): TwiddleTable {
  if (!(Number.isInteger(n) && n >= 2)) throw new RangeError(`DFT length must be an integer ≥ 2, got ${n}`);
  let t = tables.get(n);
  if (t === undefined) {
    const cos = new Float64Array(n);
    const sin = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      cos[j] = Math.cos((2 * Math.PI * j) / n);
      sin[j] = -Math.sin((2 * Math.PI * j) / n);
    }
    t = { n, cos, sin };
    tables.set(n, t);
  }
  return t;
}

/**
 * scale · Σ_{i<count} x[i] e^{−2πi i m/N} for m < nbins, interleaved (re, im) into
 * out[o + 2m], out[o + 2m + 1].
 */
export function truncatedRealDft(
  x: ArrayLike<number>,
  count: number,
  table: TwiddleTable,
  nbins: number,
  scale: number,
  out: Float64Array,
  o = 0,
): void {
  const { n, cos, sin } = table;
  for (let mbin = 0; mbin < nbins; mbin++) {
    let re = 0;
    let im = 0;
    let idx = 0;
    for (let i = 0; i < count; i++) {
      const v = x[i]!;
      re += v * cos[idx]!;
      im += v * sin[idx]!;
      idx += mbin;
      if (idx >= n) idx -= n;
    }
    out[o + 2 * mbin] = scale * re;
    out[o + 2 * mbin + 1] = scale * im;
  }
}
