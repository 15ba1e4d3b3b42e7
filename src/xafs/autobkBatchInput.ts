/**
 * The containers autobkBatch accepts, checked at the boundary (shapes and types; one spectrum's
 * bad data is left to its own fit), the series as blocks of rows, and the plane widths of the
 * results, bounded before any spectrum is fitted.
 */
import { MAX_KNOTS, MIN_KNOTS, autobkSettings } from './autobk.js';
import type { AutobkPlaneShape } from './autobkBatchResults.js';
import { chirBins, type AutobkBatchOptions, type BatchSpectrum, type ChirSettings, type PackedSeries, type SeriesStream } from './autobkBatchTypes.js';
import { ETOK } from './xafsUtils.js';

/**
 * A validated batch: a list of spectra, a packed series with its grid as Float64Array, or a
 * series streamed as blocks of rows (n unknown until the stream ends unless `count` is given).
 */
export type Batch =
  | { kind: 'list'; spectra: readonly BatchSpectrum[]; n: number }
  | { kind: 'packed'; series: PackedSeries & { energy: Float64Array }; n: number }
  | { kind: 'stream'; series: SeriesStream & { energy: Float64Array }; n: number | null };

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name} of ${(v as unknown as ArrayLike<number>).length}`;
  if (typeof v === 'number') return String(v);
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function isArrayLike(v: unknown): v is ArrayLike<number> {
  if (Array.isArray(v)) return true;
  if (ArrayBuffer.isView(v)) return !(v instanceof DataView || v instanceof BigInt64Array || v instanceof BigUint64Array);
  return false;
}

/** One value for all spectra, or one per spectrum (as a Float64Array). */
function perSpectrumValue(name: string, v: unknown, n: number): number | Float64Array | undefined {
  if (v === undefined || typeof v === 'number') return v;
  if (!isArrayLike(v)) throw new TypeError(`autobkBatch: packed series ${name} must be a number or an array of one value per spectrum, got ${describe(v)}`);
  if (v.length !== n) throw new RangeError(`autobkBatch: packed series ${name} has ${v.length} values for ${n} spectra`);
  return v instanceof Float64Array ? v : Float64Array.from(v);
}

/** Checks the container (shapes, types); problems of one spectrum's data are left to its fit. */
export function validateBatch(spectra: unknown): Batch {
  if (Array.isArray(spectra)) {
    spectra.forEach((s: unknown, i) => {
      if (s === null || typeof s !== 'object') throw new TypeError(`autobkBatch: spectra[${i}] must be an object {energy, mu, e0?, edgeStep?}, got ${describe(s)}`);
      const o = s as Record<string, unknown>;
      for (const key of ['energy', 'mu'] as const) {
        if (!isArrayLike(o[key])) throw new TypeError(`autobkBatch: spectra[${i}].${key} must be an array or typed array, got ${describe(o[key])}`);
      }
      for (const key of ['e0', 'edgeStep'] as const) {
        if (o[key] !== undefined && typeof o[key] !== 'number') throw new TypeError(`autobkBatch: spectra[${i}].${key} must be a number, got ${describe(o[key])}`);
      }
    });
    return { kind: 'list', spectra: spectra as BatchSpectrum[], n: spectra.length };
  }
  if (spectra === null || typeof spectra !== 'object' || ArrayBuffer.isView(spectra)) {
    throw new TypeError(`autobkBatch: spectra must be an array of {energy, mu} or a packed series {energy, mu: Float64Array}, got ${describe(spectra)}`);
  }
  const p = spectra as Record<string, unknown>;
  if (!isArrayLike(p.energy)) throw new TypeError(`autobkBatch: packed series energy must be an array or typed array, got ${describe(p.energy)}`);
  if (p.mu !== null && typeof p.mu === 'object' && Symbol.asyncIterator in p.mu) {
    const ne = p.energy.length;
    if (ne === 0) throw new RangeError('autobkBatch: series energy is empty');
    const count = p.count;
    if (count !== undefined && !(Number.isInteger(count) && (count as number) >= 0)) throw new RangeError(`autobkBatch: series count = ${String(count)} must be an integer ≥ 0`);
    const n = count === undefined ? null : (count as number);
    for (const key of ['e0', 'edgeStep'] as const) {
      if (p[key] !== undefined && typeof p[key] !== 'number' && n === null) {
        throw new TypeError(`autobkBatch: a streamed series' ${key} must be one number unless its count is given, got ${describe(p[key])}`);
      }
    }
    const e0 = n === null ? (p.e0 as number | undefined) : perSpectrumValue('e0', p.e0, n);
    const edgeStep = n === null ? (p.edgeStep as number | undefined) : perSpectrumValue('edgeStep', p.edgeStep, n);
    const energy = p.energy instanceof Float64Array ? p.energy : Float64Array.from(p.energy);
    const series: SeriesStream & { energy: Float64Array } = {
      energy,
      mu: p.mu as AsyncIterable<Float64Array | Float32Array>,
      ...(n === null ? {} : { count: n }),
      ...(e0 === undefined ? {} : { e0 }),
      ...(edgeStep === undefined ? {} : { edgeStep }),
    };
    return { kind: 'stream', series, n };
  }
  if (!(p.mu instanceof Float64Array || p.mu instanceof Float32Array)) {
    throw new TypeError(`autobkBatch: packed series mu must be a Float64Array or Float32Array of nSpectra × energy.length values, or an async iterable of such row blocks, got ${describe(p.mu)}`);
  }
  const ne = p.energy.length;
  if (ne === 0) throw new RangeError('autobkBatch: packed series energy is empty');
  if (p.mu.length % ne !== 0) {
    throw new RangeError(`autobkBatch: packed series mu has ${p.mu.length} values, not a multiple of energy.length = ${ne}`);
  }
  const n = p.mu.length / ne;
  const e0 = perSpectrumValue('e0', p.e0, n);
  const edgeStep = perSpectrumValue('edgeStep', p.edgeStep, n);
  const energy = p.energy instanceof Float64Array ? p.energy : Float64Array.from(p.energy);
  const series: PackedSeries & { energy: Float64Array } = {
    energy,
    mu: p.mu,
    ...(e0 === undefined ? {} : { e0 }),
    ...(edgeStep === undefined ? {} : { edgeStep }),
  };
  return { kind: 'packed', series, n };
}

export function valueAt(v: number | Float64Array | undefined, i: number): number | undefined {
  return v === undefined || typeof v === 'number' ? v : v[i];
}

/**
 * The rows of a packed or streamed series in blocks of at most `maxRows` spectra: views of a
 * packed μ; a stream's blocks as they come (a block that is not whole rows rejects, naming it).
 */
export async function* seriesBlocks(batch: Extract<Batch, { kind: 'packed' | 'stream' }>, maxRows: number): AsyncGenerator<{ start: number; mu: Float64Array | Float32Array }> {
  const ne = batch.series.energy.length;
  if (batch.kind === 'packed') {
    const mu = batch.series.mu;
    for (let s = 0; s < batch.n; s += maxRows) yield { start: s, mu: mu.subarray(s * ne, Math.min(batch.n, s + maxRows) * ne) };
    return;
  }
  let start = 0;
  let index = 0;
  for await (const block of batch.series.mu) {
    if (!(block instanceof Float64Array || block instanceof Float32Array)) {
      throw new TypeError(`autobkBatch: series block ${index} must be a Float64Array or Float32Array of rows, got ${describe(block)}`);
    }
    if (block.length % ne !== 0) throw new RangeError(`autobkBatch: series block ${index} has ${block.length} values, not a multiple of energy.length = ${ne}`);
    const rows = block.length / ne;
    if (batch.n !== null && start + rows > batch.n) throw new RangeError(`autobkBatch: the series stream has more than its count = ${batch.n} spectra`);
    for (let s = 0; s < rows; s += maxRows) yield { start: start + s, mu: block.subarray(s * ne, Math.min(rows, s + maxRows) * ne) };
    start += rows;
    index++;
  }
  if (batch.n !== null && start !== batch.n) throw new RangeError(`autobkBatch: the series stream ended after ${start} spectra, its count = ${batch.n}`);
}

/** Largest finite value minus smallest finite value of an energy array (NaN if fewer than two finite values). */
function finiteSpan(energy: ArrayLike<number>): number {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < energy.length; i++) {
    const e = energy[i] as unknown;
    if (typeof e !== 'number' || !Number.isFinite(e)) continue;
    if (e < lo) lo = e;
    if (e > hi) hi = e;
  }
  return hi > lo ? hi - lo : NaN;
}

/**
 * Points of the longest k grid any spectrum of the batch can have: nk = ⌊1.01 + kmax/kstep⌋ with
 * kmax ≤ k(E_max − e0) and e0 ≥ E_min. Known before any result arrives, so one shared k grid
 * serves every result whatever order chunks come back in.
 */
function kGridBound(batch: Batch, kstep: number): number {
  let span = NaN;
  if (batch.kind !== 'list') {
    span = finiteSpan(batch.series.energy);
  } else {
    for (const sp of batch.spectra) {
      const s = finiteSpan(sp.energy);
      if (!(s <= span)) span = s;
    }
  }
  const nk = Math.trunc(1.01 + Math.sqrt(ETOK * span) / kstep);
  return Number.isFinite(nk) && nk > 0 ? nk : 0;
}


/**
 * Plane widths for a batch: χ rows as long as the longest k grid (never beyond nfft, where
 * autobk refuses a spectrum), coefficient rows as wide as the most knots any spectrum can get,
 * bkg rows as long as each input's energy array.
 */
export function planeShape(batch: Batch, options: AutobkBatchOptions, chir: true | ChirSettings | null): AutobkPlaneShape {
  let settings;
  try {
    settings = autobkSettings(options);
  } catch {
    // Every spectrum will get the option's error: no row is ever written.
    return { kWidth: 1, coefWidth: 1, nr: 0, rows: batch.kind === 'list' ? new Int32Array(batch.n + 1) : batch.series.energy.length };
  }
  const { kstep, nfft, kmin } = settings;
  const kWidth = Math.max(1, Math.min(nfft, kGridBound(batch, kstep)));
  const kmax = Math.min(kstep * (kWidth - 1), options.kmax !== undefined && options.kmax >= 0 ? options.kmax : Infinity);
  const rbkg = Math.max(settings.rbkg, (2 * Math.PI) / (kstep * nfft));
  let nspl = 1 + Math.trunc((2 * rbkg * Math.max(0, kmax - kmin)) / Math.PI);
  if (options.nknots !== undefined && Number.isInteger(options.nknots)) nspl = options.nknots;
  const coefWidth = Math.min(MAX_KNOTS, Math.max(MIN_KNOTS, nspl));
  let rows: Int32Array | number;
  if (batch.kind === 'list') {
    rows = new Int32Array(batch.n + 1);
    for (let i = 0; i < batch.n; i++) rows[i + 1] = rows[i]! + batch.spectra[i]!.energy.length;
  } else {
    rows = batch.series.energy.length;
  }
  return { kWidth, coefWidth, nr: chir === null ? 0 : chirBins(options, chir), rows };
}
