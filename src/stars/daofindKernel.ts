/**
 * The DAOFIND kernel of photutils' DAOStarFinder and its sharpness and roundness, built once per
 * expected FWHM: the detection's candidate shapes (detectShape.ts) and every measured star's
 * metrics (measure.ts) run the same code on the same numbers.
 */

/** A Gaussian of σ = s px truncated, lowered to zero sum and normalised (photutils' definitions). */
interface DaofindKernel {
  /** Kernel radius kr = max(2, floor(1.5σ)); the kernel is (2kr + 1)², row-major. */
  kr: number;
  /** 1 on photutils' footprint: within 1.5σ (r²/2σ² ≤ 1.125), and at least radius 2. */
  mask: Uint8Array;
  /**
   * The Gaussian lowered to zero sum on the mask and scaled to unit response to itself, 0 off
   * the mask: its convolution with the data estimates the amplitude of a Gaussian of this σ.
   */
  kernel: Float64Array;
  /** roundness2's kernel side: the Gaussian's marginal with triangular weights (one serves both axes, the Gaussian being symmetric). */
  marginal: Float64Array;
  /** Fixed sums of roundness2's weighted linear fit of the data's marginal on `marginal`: Σw, Σw·k, Σw·k² − (Σw·k)²/Σw. */
  wSum: number;
  kSum: number;
  den: number;
}

function daofindKernel(s: number): DaofindKernel {
  const kr = Math.max(2, Math.floor(1.5 * s));
  const ks = 2 * kr + 1;
  const gauss = new Float64Array(ks * ks);
  const mask = new Uint8Array(ks * ks);
  const kernel = new Float64Array(ks * ks);
  let sum = 0;
  let sum2 = 0;
  let npix = 0;
  for (let j = 0; j < ks; j++) {
    for (let i = 0; i < ks; i++) {
      const dx = i - kr;
      const dy = j - kr;
      const e = (dx * dx + dy * dy) / (2 * s * s);
      const g = Math.exp(-e);
      gauss[j * ks + i] = g;
      if (e <= 1.125 || dx * dx + dy * dy <= 4) {
        mask[j * ks + i] = 1;
        sum += g;
        sum2 += g * g;
        npix++;
      }
    }
  }
  const denom = sum2 - (sum * sum) / npix;
  for (let k = 0; k < ks * ks; k++) kernel[k] = mask[k] ? ((gauss[k] as number) - sum / npix) / denom : 0;
  const marginal = new Float64Array(ks);
  let wSum = 0;
  let kSum = 0;
  let k2Sum = 0;
  for (let u = 0; u < ks; u++) {
    // Triangular weights: kr + 1 at the centre, 1 at the edge.
    const wu = kr + 1 - Math.abs(u - kr);
    let km = 0;
    for (let t = 0; t < ks; t++) km += (kr + 1 - Math.abs(t - kr)) * (gauss[t * ks + u] as number);
    marginal[u] = km;
    wSum += wu;
    kSum += wu * km;
    k2Sum += wu * km * km;
  }
  return { kr, mask, kernel, marginal, wSum, kSum, den: k2Sum - (kSum * kSum) / wSum };
}

/**
 * DAOFIND sharpness, roundness1 and roundness2 (photutils' definitions) at the centre of a
 * sky-subtracted cut-out of side 4kr + 1, for one expected σ: detectShape.ts fills the cut-out
 * at each candidate's peak pixel, measure.ts at each measured star's centre. Made once per frame;
 * `measure` allocates nothing.
 */
export class DaofindMetrics {
  readonly kr: number;
  /** The kernel's mask (see DaofindKernel), (2kr + 1)². */
  readonly mask: Uint8Array;
  readonly marginal: Float64Array;
  readonly wSum: number;
  readonly kSum: number;
  readonly den: number;
  /**
   * The kernel's non-zero taps as offsets into `cut` and their weights, in the kernel's raster
   * order so the convolution sums in the same order as a full pass over the kernel would.
   */
  readonly tapOffset: Int32Array;
  readonly tapWeight: Float64Array;
  /** The mask's pixels as offsets into `cut` from the kernel window's corner, in raster order. */
  readonly maskOffset: Int32Array;
  /** ±1 by the photutils quadrant of each convolution output (0 at the centre, in none). */
  readonly quadrantSign: Float64Array;
  /** Convolution of the (2kr + 1)² block centred on the cut-out's centre. */
  readonly conv: Float64Array;
  /**
   * The caller's sky-subtracted cut-out, (4kr + 1)² row-major, centred on the pixel measured:
   * `cut` NaN off the image or where a pixel is not finite, `cutZ` the same with 0 there.
   */
  readonly cut: Float64Array;
  readonly cutZ: Float64Array;
  /** Results of the last `measure`, NaN where undefined. */
  sharpness = NaN;
  roundness1 = NaN;
  roundness2 = NaN;
  /** Result of marginalAmplitude. */
  amplitude = NaN;

  constructor(s: number) {
    const dao = daofindKernel(s);
    const kr = dao.kr;
    const ks = 2 * kr + 1;
    const cs = 4 * kr + 1;
    this.kr = kr;
    const kernel = dao.kernel;
    this.mask = dao.mask;
    this.marginal = dao.marginal;
    this.wSum = dao.wSum;
    this.kSum = dao.kSum;
    this.den = dao.den;
    this.conv = new Float64Array(ks * ks);
    this.cut = new Float64Array(cs * cs);
    this.cutZ = new Float64Array(cs * cs);
    let taps = 0;
    let maskTaps = 0;
    for (let k = 0; k < ks * ks; k++) {
      if (kernel[k] !== 0) taps++;
      maskTaps += this.mask[k] as number;
    }
    this.tapOffset = new Int32Array(taps);
    this.tapWeight = new Float64Array(taps);
    this.maskOffset = new Int32Array(maskTaps);
    this.quadrantSign = new Float64Array(ks * ks);
    taps = 0;
    maskTaps = 0;
    for (let j = 0; j < ks; j++) {
      for (let i = 0; i < ks; i++) {
        const kv = kernel[j * ks + i] as number;
        if (kv !== 0) {
          this.tapOffset[taps] = j * cs + i;
          this.tapWeight[taps++] = kv;
        }
        if (this.mask[j * ks + i]) this.maskOffset[maskTaps++] = j * cs + i;
        let sign = 0;
        if ((j <= kr && i > kr) || (j >= kr && i < kr)) sign = -1;
        else if ((j < kr && i <= kr) || (j > kr && i >= kr)) sign = 1;
        this.quadrantSign[j * ks + i] = sign;
      }
    }
  }

  /**
   * Sharpness, roundness1 and roundness2 of the cut-out: sharpness = (peak − mean of the other
   * kernel pixels) / convolved peak; roundness1 from the quadrants of the convolved block (centre
   * excluded); roundness2 = 2(hx − hy)/(hx + hy) from linear fits of the kernel's marginals to
   * the data's, with triangular weights.
   */
  measure(): void {
    // Small functions rather than one: V8 boxed some of the sums of a single large one (80 bytes
    // of garbage per star), and each of these stays free of allocation.
    daoConvolve(this);
    daoSharpness(this);
    daoRoundness1(this);
    const cs = 4 * this.kr + 1;
    marginalAmplitude(this, 1, cs);
    const hx = this.amplitude;
    marginalAmplitude(this, cs, 1);
    const hy = this.amplitude;
    this.roundness2 = hx > 0 && hy > 0 ? (2 * (hx - hy)) / (hx + hy) : NaN;
  }
}

/**
 * Convolution value (i, j) of the ks×ks output centred on the cut-out's centre, into d.conv:
 * with the cut radius 2kr, its kernel tap (a, b) is cut pixel (i + a, j + b). Each value sums its
 * taps in the kernel's raster order.
 */
function daoConvolve(d: DaofindMetrics): void {
  const kr = d.kr;
  const ks = 2 * kr + 1;
  const cs = 4 * kr + 1;
  const conv = d.conv;
  const cutZ = d.cutZ;
  const off = d.tapOffset;
  const wgt = d.tapWeight;
  const taps = off.length;
  if (ks === 5) {
    // The kernel of every FWHM below 4.7 px: a row of five outputs at once shares each tap's
    // weight and offset and keeps five independent sums in flight (half the time of one output
    // at a time).
    for (let j = 0; j < 5; j++) {
      const base = j * cs;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0;
      for (let t = 0; t < taps; t++) {
        const w = wgt[t] as number;
        const q = base + (off[t] as number);
        s0 += w * (cutZ[q] as number);
        s1 += w * (cutZ[q + 1] as number);
        s2 += w * (cutZ[q + 2] as number);
        s3 += w * (cutZ[q + 3] as number);
        s4 += w * (cutZ[q + 4] as number);
      }
      const o = j * 5;
      conv[o] = s0;
      conv[o + 1] = s1;
      conv[o + 2] = s2;
      conv[o + 3] = s3;
      conv[o + 4] = s4;
    }
    return;
  }
  for (let j = 0; j < ks; j++) {
    for (let i = 0; i < ks; i++) {
      const base = j * cs + i;
      let s = 0;
      for (let t = 0; t < taps; t++) s += (wgt[t] as number) * (cutZ[base + (off[t] as number)] as number);
      conv[j * ks + i] = s;
    }
  }
}

/** (peak − mean of the other finite pixels under the kernel's mask) / convolved peak. */
function daoSharpness(d: DaofindMetrics): void {
  const kr = d.kr;
  const ks = 2 * kr + 1;
  const cs = 4 * kr + 1;
  const cut = d.cut;
  const off = d.maskOffset;
  // The kernel window's corner in the cut: the measured pixel is the cut's centre (2kr, 2kr).
  const origin = kr * cs + kr;
  let sumMask = 0;
  let nMask = 0;
  for (let t = 0; t < off.length; t++) {
    const v = cut[origin + (off[t] as number)] as number;
    // Finite: NaN and ±∞ give NaN here.
    if (v - v === 0) {
      sumMask += v;
      nMask++;
    }
  }
  const convPeak = d.conv[kr * ks + kr] as number;
  const d0 = cut[2 * kr * cs + 2 * kr] as number;
  d.sharpness = convPeak > 0 && nMask > 1 ? (d0 - (sumMask - d0) / (nMask - 1)) / convPeak : NaN;
}

/**
 * 2·(sum over quadrants 2 and 4 − sum over 1 and 3) / sum of |conv|, the centre excluded, with
 * the quadrants as photutils cuts them (1 = rows ≤ c, cols > c; 2 = rows < c, cols ≤ c;
 * 3 = rows ≥ c, cols < c; 4 = rows > c, cols ≥ c): the signs come from d.quadrantSign, so
 * the loop has no branch.
 */
function daoRoundness1(d: DaofindMetrics): void {
  const conv = d.conv;
  const sign = d.quadrantSign;
  const n = sign.length;
  const centre = n >> 1;
  let sum2 = 0;
  let sum4 = 0;
  for (let k = 0; k < centre; k++) {
    const v = conv[k] as number;
    sum2 += (sign[k] as number) * v;
    sum4 += Math.abs(v);
  }
  for (let k = centre + 1; k < n; k++) {
    const v = conv[k] as number;
    sum2 += (sign[k] as number) * v;
    sum4 += Math.abs(v);
  }
  d.roundness1 = sum4 > 0 ? (2 * sum2) / sum4 : NaN;
}

/**
 * Amplitude of the kernel's marginal fitted (with a constant) to the data's, into d.amplitude:
 * along x with (step, across) = (1, cs), along y with (cs, 1). The kernel side of the fit is
 * precomputed.
 */
function marginalAmplitude(d: DaofindMetrics, step: number, across: number): void {
  const kr = d.kr;
  const ks = 2 * kr + 1;
  const km = d.marginal;
  const cutZ = d.cutZ;
  // Pixel (u, t) of the ks×ks window centred on the cut-out's centre, along `step` and `across`.
  const origin = kr * (4 * kr + 1) + kr;
  let dSum = 0;
  let dkSum = 0;
  for (let u = 0; u < ks; u++) {
    const wu = kr + 1 - Math.abs(u - kr);
    let dm = 0;
    for (let t = 0; t < ks; t++) dm += (kr + 1 - Math.abs(t - kr)) * (cutZ[origin + u * step + t * across] as number);
    dSum += wu * dm;
    dkSum += wu * dm * (km[u] as number);
  }
  const num = dkSum - (dSum * d.kSum) / d.wSum;
  const den = d.den;
  d.amplitude = num > 0 && den > 0 ? num / den : NaN;
}
