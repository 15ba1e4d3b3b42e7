/**
 * The first few bins of a long zero-padded real DFT, evaluated directly:
 * X_m = Σ_n x_n e^{−2πi n m / N} for m < nbins. AUTOBK needs ~33 of the 1025 bins of a
 * 2048-point transform of ~350 non-zero samples, and each B-spline column is non-zero on only
 * ~4/nspl of them; bench/autobk.bench.ts measures this against full 2048-point FFTs.
 *
 * Each bin is a Goertzel recurrence s_k = x_k + 2cos θ·s_{k−1} − s_{k−2} (one multiply per
 * sample, no trigonometric look-up), four bins at a time so that the four dependency chains
 * overlap; the phase of the segment's position comes from a twiddle table cached per N.
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
 * Adds scale · Σ_{k<len} x[start + k]·e^{−2πi (n0 + k) m / N} to out[o + 2m] (re) and
 * out[o + 2m + 1] (im) for m < nbins: the contribution of a segment whose first sample sits at
 * DFT index n0.
 */
export function truncatedRealDft(
  x: ArrayLike<number>,
  start: number,
  len: number,
  n0: number,
  table: TwiddleTable,
  nbins: number,
  scale: number,
  out: Float64Array,
  o = 0,
): void {
  if (nbins > table.n) throw new RangeError(`nbins = ${nbins} exceeds the DFT length ${table.n}`);
  // Goertzel's rounding error grows with the square of the length at low frequencies: short chunks.
  for (let c = 0; c < len; c += GOERTZEL_CHUNK) {
    goertzelSegment(x, start + c, Math.min(GOERTZEL_CHUNK, len - c), n0 + c, table, nbins, scale, out, o);
  }
}

const GOERTZEL_CHUNK = 48;

function goertzelSegment(
  x: ArrayLike<number>,
  start: number,
  len: number,
  n0: number,
  table: TwiddleTable,
  nbins: number,
  scale: number,
  out: Float64Array,
  o = 0,
): void {
  const { n, cos, sin } = table;
  const last = start + len - 1;
  // Σ_k x_k e^{−iθk} = e^{−iθ(len−1)}·(s_{len−1} − e^{−iθ}·s_{len−2}); times e^{−iθ n0} for the
  // offset. The phase index m·(n0 + len − 1) mod N advances by a fixed step from bin to bin.
  const phaseStep = (n0 + len - 1) % n;
  let phase = 0;
  const finish = (m: number, s1: number, s2: number): void => {
    const cr = cos[m]!, ci = sin[m]!;
    const yr = s1 - cr * s2;
    const yi = -ci * s2;
    const pr = cos[phase]!, pi = sin[phase]!;
    out[o + 2 * m]! += scale * (yr * pr - yi * pi);
    out[o + 2 * m + 1]! += scale * (yr * pi + yi * pr);
    phase += phaseStep;
    if (phase >= n) phase -= n;
  };
  // (x_k − s_{k−2}) + 2cos θ·s_{k−1}: the subtraction does not wait for the previous step, so each
  // chain's latency per sample is one multiply and one add.
  let m = 0;
  for (; m + 4 <= nbins; m += 4) {
    const a0 = 2 * cos[m]!, a1 = 2 * cos[m + 1]!, a2 = 2 * cos[m + 2]!, a3 = 2 * cos[m + 3]!;
    let p0 = 0, p1 = 0, p2 = 0, p3 = 0;
    let q0 = 0, q1 = 0, q2 = 0, q3 = 0;
    for (let k = start; k <= last; k++) {
      const v = x[k]!;
      const t0 = v - q0 + a0 * p0;
      const t1 = v - q1 + a1 * p1;
      const t2 = v - q2 + a2 * p2;
      const t3 = v - q3 + a3 * p3;
      q0 = p0; q1 = p1; q2 = p2; q3 = p3;
      p0 = t0; p1 = t1; p2 = t2; p3 = t3;
    }
    finish(m, p0, q0);
    finish(m + 1, p1, q1);
    finish(m + 2, p2, q2);
    finish(m + 3, p3, q3);
  }
  for (; m < nbins; m++) {
    const a = 2 * cos[m]!;
    let p = 0, q = 0;
    for (let k = start; k <= last; k++) {
      const t = x[k]! - q + a * p;
      q = p;
      p = t;
    }
    finish(m, p, q);
  }
}
