/**
 * Worker side of measureStarsBatch with `device: 'cpu'`: each worker builds one FrameMeasurer
 * over the frame and sky maps it shares with the caller (views on SharedArrayBuffers, never
 * copied) and measures the slices of positions it is sent.
 *
 * A slice's records go back packed: the numbers of every record in one Float64Array, the
 * integers and string codes in one Int32Array (both transferred, not copied), and the distinct
 * strings of the slice once each. Structured-cloning one object per star cost more than
 * measuring a Gaussian star, which made the worker path slower than one thread.
 */
import { serveWorker, type WorkerReply } from '../cpu/workerPool.js';
import { FrameMeasurer, newStarMeasurement } from './measure.js';
import type { MeasureMethod, MeasureOptions, StarMeasurement, StarStatus } from './types.js';

export interface StarsWorkerInit {
  width: number;
  height: number;
  /** width·height values each, on SharedArrayBuffers. */
  data: Float32Array;
  background: Float32Array;
  noise: Float32Array;
  options: MeasureOptions;
}

export interface StarsWorkerJob {
  /** Id of the first position of the slice. */
  first: number;
  /** (x, y) pairs. */
  xy: Float64Array;
}

/** The records of a slice of stars, packed (see the file header). */
export interface PackedStars {
  count: number;
  /** STAR_NUMBERS per star: the number fields of StarMeasurement, in packStar's order. */
  numbers: Float64Array;
  /** STAR_INTS per star: id, iterations, flags, then indices into `strings` of method, fitReason, status, message. */
  ints: Int32Array;
  /** Each distinct string of the slice once ('' and the few method/reason/status names, and the rare messages). */
  strings: string[];
}

export const STAR_NUMBERS = 23;
export const STAR_INTS = 7;

/** Builds a slice's string table: `code` gives each distinct string its index in `strings`. */
export interface StringTable {
  strings: string[];
  codes: Map<string, number>;
}

function stringCode(t: StringTable, s: string): number {
  let c = t.codes.get(s);
  if (c === undefined) {
    c = t.strings.length;
    t.strings.push(s);
    t.codes.set(s, c);
  }
  return c;
}

/** Writes record `r` as star `k` of the packed arrays. */
export function packStar(r: StarMeasurement, k: number, numbers: Float64Array, ints: Int32Array, table: StringTable): void {
  let o = k * STAR_NUMBERS;
  numbers[o++] = r.xInput;
  numbers[o++] = r.yInput;
  numbers[o++] = r.x;
  numbers[o++] = r.y;
  numbers[o++] = r.xErr;
  numbers[o++] = r.yErr;
  numbers[o++] = r.flux;
  numbers[o++] = r.fwhm;
  numbers[o++] = r.eccentricity;
  numbers[o++] = r.theta;
  numbers[o++] = r.beta;
  numbers[o++] = r.background;
  numbers[o++] = r.backgroundNoise;
  numbers[o++] = r.snr;
  numbers[o++] = r.peak;
  numbers[o++] = r.sharpness;
  numbers[o++] = r.roundness1;
  numbers[o++] = r.roundness2;
  numbers[o++] = r.peakCoreRatio;
  numbers[o++] = r.marginalRoundness;
  numbers[o++] = r.marginalAsymmetry;
  numbers[o++] = r.laplacianSnr;
  numbers[o] = r.chi2Reduced;
  let i = k * STAR_INTS;
  ints[i++] = r.id;
  ints[i++] = r.iterations;
  ints[i++] = r.flags;
  ints[i++] = stringCode(table, r.method);
  ints[i++] = stringCode(table, r.fitReason);
  ints[i++] = stringCode(table, r.status);
  ints[i] = stringCode(table, r.message);
}

/** Star `k` of a packed slice as a new record, with the fields in newStarMeasurement's order. */
export function unpackStar(p: PackedStars, k: number): StarMeasurement {
  const f = p.numbers;
  const n = p.ints;
  const s = p.strings;
  const o = k * STAR_NUMBERS;
  const i = k * STAR_INTS;
  return {
    id: n[i] as number,
    xInput: f[o] as number,
    yInput: f[o + 1] as number,
    x: f[o + 2] as number,
    y: f[o + 3] as number,
    xErr: f[o + 4] as number,
    yErr: f[o + 5] as number,
    flux: f[o + 6] as number,
    fwhm: f[o + 7] as number,
    eccentricity: f[o + 8] as number,
    theta: f[o + 9] as number,
    beta: f[o + 10] as number,
    background: f[o + 11] as number,
    backgroundNoise: f[o + 12] as number,
    snr: f[o + 13] as number,
    peak: f[o + 14] as number,
    sharpness: f[o + 15] as number,
    roundness1: f[o + 16] as number,
    roundness2: f[o + 17] as number,
    peakCoreRatio: f[o + 18] as number,
    marginalRoundness: f[o + 19] as number,
    marginalAsymmetry: f[o + 20] as number,
    laplacianSnr: f[o + 21] as number,
    chi2Reduced: f[o + 22] as number,
    iterations: n[i + 1] as number,
    method: s[n[i + 3] as number] as MeasureMethod,
    fitReason: s[n[i + 4] as number] as string,
    status: s[n[i + 5] as number] as StarStatus,
    flags: n[i + 2] as number,
    message: s[n[i + 6] as number] as string,
  };
}

/** Packs whole records (the worker packs one reused record at a time instead). */
export function packStars(records: readonly StarMeasurement[]): PackedStars {
  const count = records.length;
  const numbers = new Float64Array(count * STAR_NUMBERS);
  const ints = new Int32Array(count * STAR_INTS);
  const table: StringTable = { strings: [], codes: new Map() };
  for (let k = 0; k < count; k++) packStar(records[k] as StarMeasurement, k, numbers, ints, table);
  return { count, numbers, ints, strings: table.strings };
}

export function starsWorker(init: StarsWorkerInit): (job: StarsWorkerJob) => WorkerReply<PackedStars> {
  const { width, height } = init;
  const image = { width, height, data: init.data };
  const map = { width, height, background: init.background, noise: init.noise };
  const m = new FrameMeasurer(image, init.options, map);
  // measure() overwrites every field, so one record serves every star of every slice.
  const record = newStarMeasurement();
  return (job) => {
    const count = job.xy.length / 2;
    const numbers = new Float64Array(count * STAR_NUMBERS);
    const ints = new Int32Array(count * STAR_INTS);
    const table: StringTable = { strings: [], codes: new Map() };
    for (let k = 0; k < count; k++) {
      m.measure(job.xy[2 * k] as number, job.xy[2 * k + 1] as number, job.first + k, record);
      packStar(record, k, numbers, ints, table);
    }
    return { value: { count, numbers, ints, strings: table.strings }, transfer: [numbers.buffer, ints.buffer] };
  };
}

void serveWorker(starsWorker);
