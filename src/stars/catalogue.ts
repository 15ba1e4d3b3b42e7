/**
 * The star catalogue: what every measurement path returns. A struct of arrays in the manner of
 * SEP's `sep_catalog` and Arrow record batches: one typed array per field, in input order, and
 * records (`StarMeasurement`) only as views made on demand.
 *
 * Float fields are Float64Array on the CPU paths and Float32Array on the GPU path, where they
 * are views of the one read-back copy the kernels wrote (src/gpu/starsBatch.ts); positions are
 * Float64Array on both (a float32 x on a 16k frame would carry only 0.002 px). Codes replace
 * strings: `status` indexes STAR_STATUS, `method` MEASURE_METHODS, `fitReason` FIT_REASONS
 * (NO_FIT_REASON when no fit ran); `message` is composed from the numbers when asked for.
 */
import { FIT_REASONS, type FitReason } from './psfModel.js';
import {
  FLAG_CENTRE_OUTSIDE,
  FLAG_EDGE,
  FLAG_FIT_FAILED,
  FLAG_INVALID_POSITION,
  FLAG_NAN_PIXELS,
  FLAG_NO_BACKGROUND,
  FLAG_NO_PIXELS,
  FLAG_NO_SHAPE,
  FLAG_ARTEFACT,
  FLAG_CENTRE_DRIFT,
  FLAG_CROWDED,
  FLAG_NO_SIGNAL,
  FLAG_OUTSIDE,
  FLAG_SATURATED,
  FLAG_STRUCTURED_SKY,
  type MeasureMethod,
  type StarMeasurement,
  type StarStatus,
} from './types.js';

/** `status` codes to names: STAR_STATUS[code] is the StarMeasurement status. */
export const STAR_STATUS: readonly StarStatus[] = ['ok', 'fallback', 'failed'];
/** `status` code of a star measured as asked. */
export const STATUS_OK = 0;
/** `status` code of a star whose fit failed or was not believed: position and shape from windowed moments. */
export const STATUS_FALLBACK = 1;
/** `status` code of a star whose measurement was rejected (`flags` and `message` say why). */
export const STATUS_FAILED = 2;
/** `method` codes to names: MEASURE_METHODS[code] is the StarMeasurement method. */
export const MEASURE_METHODS: readonly MeasureMethod[] = ['moments', 'gaussian', 'gaussianRotated', 'moffat'];
/** `fitReason` code of a star no fit was run for (record: ''). */
export const NO_FIT_REASON = FIT_REASONS.length;

/** The float fields, in the order of the GPU catalogue's planes (STAR_FLOAT_FIELDS[f] is plane f). */
export const STAR_FLOAT_FIELDS = [
  'xErr', 'yErr', 'flux', 'fwhm', 'eccentricity', 'ellipticity', 'semimajorSigma', 'semiminorSigma',
  'theta', 'beta', 'background', 'backgroundNoise', 'snr', 'peak', 'sharpness', 'roundness1',
  'roundness2', 'peakCoreRatio', 'marginalRoundness', 'marginalAsymmetry', 'laplacianSnr', 'chi2Reduced',
] as const;
/** The integer fields (codes and counts), after the float planes. */
export const STAR_INT_FIELDS = ['iterations', 'method', 'fitReason', 'status', 'flags'] as const;

/** Name of a float column (one of STAR_FLOAT_FIELDS). */
export type StarFloatField = (typeof STAR_FLOAT_FIELDS)[number];
/** Name of an integer column (one of STAR_INT_FIELDS). */
export type StarIntField = (typeof STAR_INT_FIELDS)[number];
/** A float column: Float64Array on the CPU paths, Float32Array on the GPU path. */
export type FloatColumn = Float32Array | Float64Array;

/** The columns of a catalogue: one entry per input position. */
export type StarColumns = { [K in StarFloatField]: FloatColumn } & { [K in StarIntField]: Uint32Array } & {
  xInput: Float64Array;
  yInput: Float64Array;
  x: Float64Array;
  y: Float64Array;
};

/** What the catalogue needs beyond its columns to say what it measured. */
export interface CatalogueMeta {
  /** Frame width, px (for the outside-the-image messages). */
  width: number;
  /** Frame height, px. */
  height: number;
  /** The method asked for (a star's own `method` says what produced it). */
  method: MeasureMethod;
  /**
   * Where the stars were measured: 'cpu' (float64, or float32 fits with `precision: 'float32'`)
   * or 'gpu' (WebGPU, float32 fits) — what `device: 'auto'` chose.
   */
  device: 'gpu' | 'cpu';
}

/**
 * Columns for n stars, Float64Array floats; on SharedArrayBuffers when `shared` (CPU workers
 * write into them in place).
 */
export function allocateStarColumns(n: number, shared = false): StarColumns {
  const make = <T extends Float64Array | Uint32Array>(C: new (b: ArrayBufferLike) => T, bytes: number): T =>
    new C(shared ? new SharedArrayBuffer(n * bytes) : new ArrayBuffer(n * bytes));
  const cols: Record<string, Float64Array | Uint32Array> = {};
  for (const f of ['xInput', 'yInput', 'x', 'y', ...STAR_FLOAT_FIELDS]) cols[f] = make(Float64Array, 8).fill(NaN);
  for (const f of STAR_INT_FIELDS) cols[f] = make(Uint32Array, 4);
  return cols as StarColumns;
}

/** The message measureStars gives a star, from its numbers. */
export function starMessage(flags: number, fitReason: number, xInput: number, yInput: number, meta: CatalogueMeta): string {
  const { width: W, height: H } = meta;
  if (flags & FLAG_INVALID_POSITION) return `position x = ${xInput}, y = ${yInput} is not finite`;
  if (flags & FLAG_OUTSIDE) return `position x = ${xInput}, y = ${yInput} is outside the ${W}×${H} image (pixel centres 0…${W - 1}, 0…${H - 1})`;
  if (flags & FLAG_NO_BACKGROUND) return `no background estimate near x = ${xInput}, y = ${yInput}`;
  if (flags & FLAG_NO_PIXELS) return 'no valid pixel in the stamp';
  if (flags & FLAG_NO_SHAPE) return 'no FWHM or flux could be measured: no source with a width in the stamp';
  if (flags & FLAG_CENTRE_OUTSIDE) return `the measured centre lies outside the ${W}×${H} image (x in −0.5…${W - 0.5}, y in −0.5…${H - 0.5})`;
  if (flags & FLAG_ARTEFACT) return 'narrower than half the frame\'s median FWHM with a peak above 4σ: a hot pixel or cosmic ray, not a star';
  // Before the fit's reason: the position given is the start one, whatever the fit did.
  if (flags & FLAG_CENTRE_DRIFT) return `the measured centre moved more than max(1.5 px, the expected FWHM) from x = ${xInput}, y = ${yInput}: not believed, the start position is kept`;
  if (flags & FLAG_STRUCTURED_SKY) return `wider than 1.5 × the frame's median FWHM on a sky more than twice as noisy as the frame's: the centre is not believed, the start position x = ${xInput}, y = ${yInput} is kept`;
  if (flags & FLAG_FIT_FAILED) return `${meta.method} fit stopped: ${fitReasonName(fitReason)}; position and shape from windowed moments`;
  if (flags & FLAG_NO_SIGNAL) return 'no positive signal under the moment window';
  if (flags & (FLAG_EDGE | FLAG_SATURATED | FLAG_NAN_PIXELS)) return 'measured without the stamp pixels that are off the image, NaN or saturated';
  // No deblending: the neighbour's light is in the stamp, so its flux and shape are less certain.
  if (flags & FLAG_CROWDED) return 'another source lies inside the stamp (not deblended)';
  return '';
}

/**
 * The last check of a measured star that is not already failed, the same on every path (the end
 * of measureOne; on the GPU path the host pass that forms x and y): the flags that make it
 * failed — FLAG_NO_SHAPE when its FWHM or flux is not finite, FLAG_CENTRE_OUTSIDE when its
 * centre is outside the W×H image — or 0. An 'ok' star thus always has a finite position inside
 * the frame, FWHM and flux.
 */
export function finalCheckFlags(x: number, y: number, fwhm: number, flux: number, W: number, H: number): number {
  // v − v === 0 is the finite test without a call.
  if (!(fwhm - fwhm === 0 && flux - flux === 0)) return FLAG_NO_SHAPE;
  if (!(x >= -0.5 && y >= -0.5 && x < W - 0.5 && y < H - 0.5)) return FLAG_CENTRE_OUTSIDE;
  return 0;
}

function fitReasonName(code: number): FitReason | '' {
  return code < FIT_REASONS.length ? (FIT_REASONS[code] as FitReason) : '';
}

/** Writes record `r` as row k (the CPU paths measure into one reused record). */
export function writeStarRow(c: StarColumns, k: number, r: StarMeasurement): void {
  c.xInput[k] = r.xInput;
  c.yInput[k] = r.yInput;
  c.x[k] = r.x;
  c.y[k] = r.y;
  c.xErr[k] = r.xErr;
  c.yErr[k] = r.yErr;
  c.flux[k] = r.flux;
  c.fwhm[k] = r.fwhm;
  c.eccentricity[k] = r.eccentricity;
  c.ellipticity[k] = r.ellipticity;
  c.semimajorSigma[k] = r.semimajorSigma;
  c.semiminorSigma[k] = r.semiminorSigma;
  c.theta[k] = r.theta;
  c.beta[k] = r.beta;
  c.background[k] = r.background;
  c.backgroundNoise[k] = r.backgroundNoise;
  c.snr[k] = r.snr;
  c.peak[k] = r.peak;
  c.sharpness[k] = r.sharpness;
  c.roundness1[k] = r.roundness1;
  c.roundness2[k] = r.roundness2;
  c.peakCoreRatio[k] = r.peakCoreRatio;
  c.marginalRoundness[k] = r.marginalRoundness;
  c.marginalAsymmetry[k] = r.marginalAsymmetry;
  c.laplacianSnr[k] = r.laplacianSnr;
  c.chi2Reduced[k] = r.chi2Reduced;
  c.iterations[k] = r.iterations;
  c.method[k] = MEASURE_METHODS.indexOf(r.method);
  c.fitReason[k] = r.fitReason === '' ? NO_FIT_REASON : FIT_REASONS.indexOf(r.fitReason as FitReason);
  c.status[k] = STAR_STATUS.indexOf(r.status);
  c.flags[k] = r.flags;
}

/**
 * A star of a catalogue as a `StarMeasurement`: getters over the columns, so nothing is copied
 * until a field is read.
 */
class StarView implements StarMeasurement {
  constructor(private readonly cat: StarCatalogue, readonly id: number) {}
  get xInput(): number { return this.cat.xInput[this.id] as number; }
  get yInput(): number { return this.cat.yInput[this.id] as number; }
  get x(): number { return this.cat.x[this.id] as number; }
  get y(): number { return this.cat.y[this.id] as number; }
  get xErr(): number { return this.cat.xErr[this.id] as number; }
  get yErr(): number { return this.cat.yErr[this.id] as number; }
  get flux(): number { return this.cat.flux[this.id] as number; }
  get fwhm(): number { return this.cat.fwhm[this.id] as number; }
  get eccentricity(): number { return this.cat.eccentricity[this.id] as number; }
  get ellipticity(): number { return this.cat.ellipticity[this.id] as number; }
  get semimajorSigma(): number { return this.cat.semimajorSigma[this.id] as number; }
  get semiminorSigma(): number { return this.cat.semiminorSigma[this.id] as number; }
  get theta(): number { return this.cat.theta[this.id] as number; }
  get beta(): number { return this.cat.beta[this.id] as number; }
  get background(): number { return this.cat.background[this.id] as number; }
  get backgroundNoise(): number { return this.cat.backgroundNoise[this.id] as number; }
  get snr(): number { return this.cat.snr[this.id] as number; }
  get peak(): number { return this.cat.peak[this.id] as number; }
  get sharpness(): number { return this.cat.sharpness[this.id] as number; }
  get roundness1(): number { return this.cat.roundness1[this.id] as number; }
  get roundness2(): number { return this.cat.roundness2[this.id] as number; }
  get peakCoreRatio(): number { return this.cat.peakCoreRatio[this.id] as number; }
  get marginalRoundness(): number { return this.cat.marginalRoundness[this.id] as number; }
  get marginalAsymmetry(): number { return this.cat.marginalAsymmetry[this.id] as number; }
  get laplacianSnr(): number { return this.cat.laplacianSnr[this.id] as number; }
  get chi2Reduced(): number { return this.cat.chi2Reduced[this.id] as number; }
  get iterations(): number { return this.cat.iterations[this.id] as number; }
  get method(): MeasureMethod { return MEASURE_METHODS[this.cat.method[this.id] as number] as MeasureMethod; }
  get fitReason(): FitReason | '' { return fitReasonName(this.cat.fitReason[this.id] as number); }
  get status(): StarStatus { return STAR_STATUS[this.cat.status[this.id] as number] as StarStatus; }
  get flags(): number { return this.cat.flags[this.id] as number; }
  get message(): string { return this.cat.message(this.id); }
}

/** Every measured star of one call, as columns in input order. */
export class StarCatalogue implements Iterable<StarMeasurement> {
  /** Number of stars: one per input position. */
  readonly length: number;
  /** Frame size and the method asked for. */
  readonly meta: CatalogueMeta;
  /** Input x position as given, px (zero-based, pixel centres at integers). */
  readonly xInput: Float64Array;
  /** Input y position as given, px. */
  readonly yInput: Float64Array;
  /** Measured centre x, px, zero-based with pixel centres at integers (photutils `xcentroid`, `ycentroid`; SEP `x`, `y`; SExtractor `X_IMAGE`, `Y_IMAGE` count from 1). */
  readonly x: Float64Array;
  /** Measured centre y, px (see x). */
  readonly y: Float64Array;
  /** 1σ uncertainty of x from the fit covariance, px (NaN without a converged fit; SExtractor `ERRX2_IMAGE`, SEP `errx2` are its square). */
  readonly xErr: FloatColumn;
  /** 1σ uncertainty of y, px (see xErr). */
  readonly yErr: FloatColumn;
  /** Total flux of the fitted profile, or the background-subtracted sum within the moment radius, ADU. */
  readonly flux: FloatColumn;
  /** Geometric-mean FWHM, px, from the fit when it converged, else from windowed moments (photutils `fwhm`, SExtractor `FWHM_IMAGE`). */
  readonly fwhm: FloatColumn;
  /** √(1 − (minor/major)²) (photutils `eccentricity`). */
  readonly eccentricity: FloatColumn;
  /** 1 − minor/major (photutils `ellipticity`, SExtractor `ELLIPTICITY`). */
  readonly ellipticity: FloatColumn;
  /** σ along the major axis, px (photutils `semimajor_sigma`; SEP `a`, SExtractor `A_IMAGE`). */
  readonly semimajorSigma: FloatColumn;
  /** σ along the minor axis, px (photutils `semiminor_sigma`; SEP `b`, SExtractor `B_IMAGE`). */
  readonly semiminorSigma: FloatColumn;
  /** Major-axis angle, radians counter-clockwise from +x, in (−π/2, π/2] (SEP `theta`; photutils `orientation` and SExtractor `THETA_IMAGE` are in degrees). */
  readonly theta: FloatColumn;
  /** Moffat β (NaN for the other methods). */
  readonly beta: FloatColumn;
  /** Local sky level under the star, ADU (photutils `local_background`). */
  readonly background: FloatColumn;
  /** Sky σ near the star, ADU. */
  readonly backgroundNoise: FloatColumn;
  /** Signal-to-noise ratio from the CCD equation over an aperture of radius 1.5·FWHM. */
  readonly snr: FloatColumn;
  /** Highest background-subtracted pixel of the 3×3 around the centre, ADU. */
  readonly peak: FloatColumn;
  /** DAOFIND sharpness (photutils DAOStarFinder `sharpness`). */
  readonly sharpness: FloatColumn;
  /** DAOFIND symmetry roundness (photutils DAOStarFinder `roundness1`). */
  readonly roundness1: FloatColumn;
  /** DAOFIND marginal-fit roundness (photutils DAOStarFinder `roundness2`). */
  readonly roundness2: FloatColumn;
  /** Peak over the 3×3 core sum, in [0, 1] (this project's own metric). */
  readonly peakCoreRatio: FloatColumn;
  /** (Hx − Hy)/(Hx + Hy) from the maxima of the x and y marginal sums (this project's own metric). */
  readonly marginalRoundness: FloatColumn;
  /** Hypot of the left/right and top/bottom marginal-half asymmetries; tracks the sub-pixel offset. */
  readonly marginalAsymmetry: FloatColumn;
  /** −Laplacian at the centre pixel over the sky σ: high for cosmic rays and hot pixels. */
  readonly laplacianSnr: FloatColumn;
  /** Reduced χ² of the fit (NaN for moments and unconverged fits). */
  readonly chi2Reduced: FloatColumn;
  /** Fit iterations (Levenberg–Marquardt); 0 when no fit ran. */
  readonly iterations: Uint32Array;
  /** MEASURE_METHODS codes: what produced position and shape. */
  readonly method: Uint32Array;
  /** FIT_REASONS codes, NO_FIT_REASON where no fit ran. */
  readonly fitReason: Uint32Array;
  /** STAR_STATUS codes. */
  readonly status: Uint32Array;
  /** FLAG_* bits (flagNames gives their names); SExtractor `FLAGS`, SEP `flag` use other bits. */
  readonly flags: Uint32Array;

  constructor(length: number, columns: StarColumns, meta: CatalogueMeta) {
    this.length = length;
    this.meta = meta;
    this.xInput = columns.xInput;
    this.yInput = columns.yInput;
    this.x = columns.x;
    this.y = columns.y;
    this.xErr = columns.xErr;
    this.yErr = columns.yErr;
    this.flux = columns.flux;
    this.fwhm = columns.fwhm;
    this.eccentricity = columns.eccentricity;
    this.ellipticity = columns.ellipticity;
    this.semimajorSigma = columns.semimajorSigma;
    this.semiminorSigma = columns.semiminorSigma;
    this.theta = columns.theta;
    this.beta = columns.beta;
    this.background = columns.background;
    this.backgroundNoise = columns.backgroundNoise;
    this.snr = columns.snr;
    this.peak = columns.peak;
    this.sharpness = columns.sharpness;
    this.roundness1 = columns.roundness1;
    this.roundness2 = columns.roundness2;
    this.peakCoreRatio = columns.peakCoreRatio;
    this.marginalRoundness = columns.marginalRoundness;
    this.marginalAsymmetry = columns.marginalAsymmetry;
    this.laplacianSnr = columns.laplacianSnr;
    this.chi2Reduced = columns.chi2Reduced;
    this.iterations = columns.iterations;
    this.method = columns.method;
    this.fitReason = columns.fitReason;
    this.status = columns.status;
    this.flags = columns.flags;
  }

  /** Star i as a record view (i may be negative, counting from the end, as Array.at). */
  at(i: number): StarMeasurement | undefined {
    const k = i < 0 ? this.length + i : i;
    return k >= 0 && k < this.length ? new StarView(this, k) : undefined;
  }

  /** Why star i is not 'ok' or carries flags; '' otherwise. */
  message(i: number): string {
    return starMessage(this.flags[i] as number, this.fitReason[i] as number, this.xInput[i] as number, this.yInput[i] as number, this.meta);
  }

  /** Stars with each status code: [ok, fallback, failed]. */
  countStatus(): [number, number, number] {
    const c: [number, number, number] = [0, 0, 0];
    for (let i = 0; i < this.length; i++) c[this.status[i] as 0 | 1 | 2]++;
    return c;
  }

  /** The stars in input order, as record views (like `at`). */
  *[Symbol.iterator](): Iterator<StarMeasurement> {
    for (let i = 0; i < this.length; i++) yield new StarView(this, i);
  }

  /** Plain objects, one per star, with every field (for JSON, tables, tests). */
  toRecords(): StarMeasurement[] {
    const out = new Array<StarMeasurement>(this.length);
    for (let i = 0; i < this.length; i++) {
      const v = new StarView(this, i);
      out[i] = {
        id: i, xInput: v.xInput, yInput: v.yInput, x: v.x, y: v.y, xErr: v.xErr, yErr: v.yErr,
        flux: v.flux, fwhm: v.fwhm, eccentricity: v.eccentricity, ellipticity: v.ellipticity,
        semimajorSigma: v.semimajorSigma, semiminorSigma: v.semiminorSigma, theta: v.theta,
        beta: v.beta, background: v.background, backgroundNoise: v.backgroundNoise, snr: v.snr,
        peak: v.peak, sharpness: v.sharpness, roundness1: v.roundness1, roundness2: v.roundness2,
        peakCoreRatio: v.peakCoreRatio, marginalRoundness: v.marginalRoundness,
        marginalAsymmetry: v.marginalAsymmetry, laplacianSnr: v.laplacianSnr,
        chi2Reduced: v.chi2Reduced, iterations: v.iterations, method: v.method,
        fitReason: v.fitReason, status: v.status, flags: v.flags, message: v.message,
      };
    }
    return out;
  }
}
