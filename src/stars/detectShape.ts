/**
 * The shape numbers detectStars judges a candidate by, at its integer peak pixel of the
 * sky-subtracted frame: DAOFIND's sharpness, roundness1 and roundness2 (photutils' DAOStarFinder
 * definitions, the same numbers measureStars reports) and a windowed-moment FWHM.
 */
import { daofindKernel } from './daofindKernel.js';
import { FWHM_TO_SIGMA } from './measure.js';

/** Cut-outs, kernel and sums for one expected FWHM; made once per detectStars call, reused per candidate. */
export class DetectShape {
  /** DAOFIND kernel radius kr: max(2, floor(1.5σ)); the cut-out is (4kr + 1)² around the peak. */
  readonly kr: number;
  /** Half-side of the cut-out, 2kr: it spans (px ± radius, py ± radius). */
  readonly radius: number;
  private readonly cs: number;
  /**
   * The sky under the cut-out, (2·radius + 1)² row-major, pixel (px − radius + i, py − radius + j)
   * at j·(2·radius + 1) + i: the caller fills it (the pixels inside the frame) before `measure`.
   */
  readonly skyCut: Float32Array;
  /** Sky-subtracted cut-out: NaN off the image or where a pixel is not finite; `cutZ` has those as 0. */
  private readonly cut: Float64Array;
  private readonly cutZ: Float64Array;
  /** Lowered, normalised Gaussian on its mask, (2kr + 1)², and the mask itself. */
  private readonly kernel: Float64Array;
  private readonly mask: Uint8Array;
  private readonly conv: Float64Array;
  /** Kernel marginal with triangular weights, and the fixed sums of roundness2's linear fit. */
  private readonly marginal: Float64Array;
  private readonly wSum: number;
  private readonly kSum: number;
  private readonly den: number;
  /** Window σ² of the width moments, and scratch for its Gaussian weights along x and y. */
  private readonly window2: number;
  private readonly wx: Float64Array;
  private readonly wy: Float64Array;
  /** Results of the last `measure`, NaN where undefined: DAOFIND sharpness, roundness1 and roundness2 (photutils' definitions). */
  sharpness = NaN;
  roundness1 = NaN;
  roundness2 = NaN;
  /** Windowed-moment FWHM of the last `measure`, px; NaN when not measurable. */
  fwhm = NaN;

  constructor(fwhm: number) {
    const s = fwhm * FWHM_TO_SIGMA;
    const kr = Math.max(2, Math.floor(1.5 * s));
    this.kr = kr;
    const ks = 2 * kr + 1;
    this.cs = 4 * kr + 1;
    this.radius = 2 * kr;
    this.skyCut = new Float32Array(this.cs * this.cs);
    this.cut = new Float64Array(this.cs * this.cs);
    this.cutZ = new Float64Array(this.cs * this.cs);
    const dao = daofindKernel(s);
    this.kernel = dao.kernel;
    this.mask = dao.mask;
    this.conv = new Float64Array(ks * ks);
    this.marginal = dao.marginal;
    this.wSum = dao.wSum;
    this.kSum = dao.kSum;
    this.den = dao.den;
    // The width window is the smoothing kernel itself: σ_w = the expected σ (at least 1 px, so
    // that a window on an undersampled star still spans its neighbours).
    this.window2 = Math.max(s, 1) ** 2;
    this.wx = new Float64Array(this.cs);
    this.wy = new Float64Array(this.cs);
  }

  /**
   * Fills sharpness, roundness1, roundness2 and fwhm for the candidate at integer pixel (px, py)
   * of `data` − the sky in `skyCut`, with the sub-pixel centre (cx, cy) for the width moments.
   */
  measure(data: Float32Array, W: number, H: number, px: number, py: number, cx: number, cy: number): void {
    const kr = this.kr;
    const cs = this.cs;
    const R = 2 * kr;
    const cut = this.cut;
    const cutZ = this.cutZ;
    const sky = this.skyCut;
    for (let j = 0; j < cs; j++) {
      const y = py - R + j;
      for (let i = 0; i < cs; i++) {
        const x = px - R + i;
        let v = NaN;
        if (x >= 0 && x < W && y >= 0 && y < H) {
          v = (data[y * W + x] as number) - (sky[j * cs + i] as number);
        }
        cut[j * cs + i] = v;
        cutZ[j * cs + i] = v - v === 0 ? v : 0;
      }
    }
    this.daofind();
    this.width(cx - px, cy - py);
  }

  private daofind(): void {
    const kr = this.kr;
    const ks = 2 * kr + 1;
    const cs = this.cs;
    const cutZ = this.cutZ;
    const kernel = this.kernel;
    const conv = this.conv;
    // Convolution output (i, j) of the ks×ks block centred on the peak: its tap (a, b) is cut pixel (i + a, j + b).
    for (let j = 0; j < ks; j++) {
      for (let i = 0; i < ks; i++) {
        let acc = 0;
        for (let b = 0; b < ks; b++) {
          const row = (j + b) * cs + i;
          const krow = b * ks;
          for (let a = 0; a < ks; a++) acc += (kernel[krow + a] as number) * (cutZ[row + a] as number);
        }
        conv[j * ks + i] = acc;
      }
    }
    // Sharpness: (peak − mean of the other finite mask pixels) / convolved peak.
    let sumMask = 0;
    let nMask = 0;
    for (let b = 0; b < ks; b++) {
      for (let a = 0; a < ks; a++) {
        if (!this.mask[b * ks + a]) continue;
        const v = this.cut[(kr + b) * cs + kr + a] as number;
        if (v - v === 0) {
          sumMask += v;
          nMask++;
        }
      }
    }
    const d0 = this.cut[2 * kr * cs + 2 * kr] as number;
    const convPeak = conv[kr * ks + kr] as number;
    this.sharpness = convPeak > 0 && nMask > 1 ? (d0 - (sumMask - d0) / (nMask - 1)) / convPeak : NaN;
    // roundness1: photutils' quadrants of the convolved block, centre excluded.
    let quad = 0;
    let abs = 0;
    for (let j = 0; j < ks; j++) {
      for (let i = 0; i < ks; i++) {
        if (i === kr && j === kr) continue;
        const c = conv[j * ks + i] as number;
        abs += Math.abs(c);
        if ((j <= kr && i > kr) || (j >= kr && i < kr)) quad -= c;
        else quad += c;
      }
    }
    this.roundness1 = abs > 0 ? (2 * quad) / abs : NaN;
    const hx = this.marginalAmplitude(1, cs);
    const hy = this.marginalAmplitude(cs, 1);
    this.roundness2 = hx > 0 && hy > 0 ? (2 * (hx - hy)) / (hx + hy) : NaN;
  }

  /** Amplitude of the kernel's marginal fitted (with a constant) to the data's, triangular weights. */
  private marginalAmplitude(step: number, across: number): number {
    const kr = this.kr;
    const ks = 2 * kr + 1;
    const origin = kr * this.cs + kr;
    let dSum = 0;
    let dkSum = 0;
    for (let u = 0; u < ks; u++) {
      const wu = kr + 1 - Math.abs(u - kr);
      let dm = 0;
      for (let t = 0; t < ks; t++) dm += (kr + 1 - Math.abs(t - kr)) * (this.cutZ[origin + u * step + t * across] as number);
      dSum += wu * dm;
      dkSum += wu * dm * (this.marginal[u] as number);
    }
    const num = dkSum - (dSum * this.kSum) / this.wSum;
    return num > 0 && this.den > 0 ? num / this.den : NaN;
  }

  /**
   * FWHM from Gaussian-windowed second moments about (dx, dy) from the peak pixel: a Gaussian of
   * σ² under a window of σw² has windowed variance m = σ²σw²/(σ² + σw²), so σ² = m·σw²/(σw² − m).
   * The sums are linear in the pixels, so sky noise does not bias them. A hot pixel gives m ≈ 0;
   * NaN when the windowed flux is not positive or m is outside (0, σw²) (no width to tell).
   */
  private width(dx: number, dy: number): void {
    const cs = this.cs;
    const R = (cs - 1) >> 1;
    const w2 = this.window2;
    const { wx, wy, cutZ } = this;
    for (let u = 0; u < cs; u++) {
      wx[u] = Math.exp(-((u - R - dx) ** 2) / (2 * w2));
      wy[u] = Math.exp(-((u - R - dy) ** 2) / (2 * w2));
    }
    let s0 = 0;
    let s2 = 0;
    for (let j = 0; j < cs; j++) {
      const v = j - R - dy;
      const wj = wy[j] as number;
      for (let i = 0; i < cs; i++) {
        const u = i - R - dx;
        const f = wj * (wx[i] as number) * (cutZ[j * cs + i] as number);
        s0 += f;
        s2 += f * (u * u + v * v);
      }
    }
    const m = s2 / (2 * s0);
    this.fwhm = s0 > 0 && m > 0 && m < w2 ? Math.sqrt((m * w2) / (w2 - m)) / FWHM_TO_SIGMA : NaN;
  }
}
