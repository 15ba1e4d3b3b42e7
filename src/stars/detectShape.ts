/**
 * The shape numbers detectStars judges a candidate by, at its integer peak pixel of the
 * sky-subtracted frame: DAOFIND's sharpness, roundness1 and roundness2 (photutils' DAOStarFinder
 * definitions, the same numbers measureStars reports) and a windowed-moment FWHM.
 */
import { DaofindMetrics } from './daofindKernel.js';
import { FWHM_TO_SIGMA } from './measure.js';

/** Cut-outs and scratch for one expected FWHM; made once per detectStars call, reused per candidate. */
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
  /** DAOFIND kernel and metrics; its `cut`/`cutZ` hold the sky-subtracted cut-out (NaN / 0 off the image or where a pixel is not finite). */
  private readonly dao: DaofindMetrics;
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
    this.dao = new DaofindMetrics(s);
    const kr = this.dao.kr;
    this.kr = kr;
    this.cs = 4 * kr + 1;
    this.radius = 2 * kr;
    this.skyCut = new Float32Array(this.cs * this.cs);
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
    const { cut, cutZ } = this.dao;
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
    const dao = this.dao;
    dao.measure();
    this.sharpness = dao.sharpness;
    this.roundness1 = dao.roundness1;
    this.roundness2 = dao.roundness2;
    this.width(cx - px, cy - py);
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
    const { wx, wy } = this;
    const cutZ = this.dao.cutZ;
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
