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
  FLAG_NO_SIGNAL,
  FLAG_OUTSIDE,
  FLAG_SATURATED,
  type MeasureMethod,
  type StarMeasurement,
  type StarStatus,
} from './types.js';

export const STAR_STATUS: readonly StarStatus[] = ['ok', 'fallback', 'failed'];
export const STATUS_OK = 0;
export const STATUS_FALLBACK = 1;
export const STATUS_FAILED = 2;
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

export type StarFloatField = (typeof STAR_FLOAT_FIELDS)[number];
export type StarIntField = (typeof STAR_INT_FIELDS)[number];
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
  width: number;
  height: number;
  /** The method asked for (a star's own `method` says what produced it). */
  method: MeasureMethod;
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
  if (flags & FLAG_FIT_FAILED) return `${meta.method} fit stopped: ${fitReasonName(fitReason)}; position and shape from windowed moments`;
  if (flags & FLAG_NO_SIGNAL) return 'no positive signal under the moment window';
  if (flags & (FLAG_EDGE | FLAG_SATURATED | FLAG_NAN_PIXELS)) return 'measured without the stamp pixels that are off the image, NaN or saturated';
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
  readonly length: number;
  /** Frame size and the method asked for. */
  readonly meta: CatalogueMeta;
  readonly xInput: Float64Array;
  readonly yInput: Float64Array;
  readonly x: Float64Array;
  readonly y: Float64Array;
  readonly xErr: FloatColumn;
  readonly yErr: FloatColumn;
  readonly flux: FloatColumn;
  readonly fwhm: FloatColumn;
  readonly eccentricity: FloatColumn;
  readonly ellipticity: FloatColumn;
  readonly semimajorSigma: FloatColumn;
  readonly semiminorSigma: FloatColumn;
  readonly theta: FloatColumn;
  readonly beta: FloatColumn;
  readonly background: FloatColumn;
  readonly backgroundNoise: FloatColumn;
  readonly snr: FloatColumn;
  readonly peak: FloatColumn;
  readonly sharpness: FloatColumn;
  readonly roundness1: FloatColumn;
  readonly roundness2: FloatColumn;
  readonly peakCoreRatio: FloatColumn;
  readonly marginalRoundness: FloatColumn;
  readonly marginalAsymmetry: FloatColumn;
  readonly laplacianSnr: FloatColumn;
  readonly chi2Reduced: FloatColumn;
  readonly iterations: Uint32Array;
  /** MEASURE_METHODS codes: what produced position and shape. */
  readonly method: Uint32Array;
  /** FIT_REASONS codes, NO_FIT_REASON where no fit ran. */
  readonly fitReason: Uint32Array;
  /** STAR_STATUS codes. */
  readonly status: Uint32Array;
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
