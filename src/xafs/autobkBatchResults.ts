/**
 * The columnar results of `autobkBatch`: one object per batch (or per streamed chunk) whose
 * per-spectrum outputs live in typed-array planes, the way Apache Arrow and GPU frameworks hold
 * batches. Scalars are one typed array per field; fixed-width vectors are row-major planes
 * `[count][width]` with a length column (χ: `nk`, coefficients: `nspl`), padded with NaN;
 * energy-length vectors (bkg, cleaned energy) are rows at `rowOffsets`. Grids that a batch
 * shares are stored once: k = kstep·i (every spectrum's k grid is a prefix of it), the series'
 * energy grid, χ(R)'s r grid. Records (`at(i)`, iteration, `toRecords()`) are views made on
 * demand, never stored.
 *
 * Both back ends write these planes directly: CPU workers write rows in place (the planes sit on
 * a SharedArrayBuffer where threads can share one) or return chunk planes that are copied in one
 * `set` per field; the GPU series path reads its planes back as float64 bit patterns.
 */
import type { AutobkBatchFailure, AutobkBatchResult, AutobkBatchSuccess } from './autobkBatchTypes.js';
import { evalBasis, type SplineBasis } from '../math/bspline.js';

/** Status codes of `status` (append-only: they are stored and exported as codes). */
export const AUTOBK_STATUS = ['converged', 'max-iterations', 'error'] as const;
/** A status name: `converged`, `max-iterations` (the solver's evaluation limit) or `error` (see AutobkBatchResults.errors). */
export type AutobkStatusName = (typeof AUTOBK_STATUS)[number];
export const STATUS_CONVERGED = 0;
export const STATUS_MAX_ITERATIONS = 1;
export const STATUS_ERROR = 2;

/** Widths of the planes of a batch: bounds known before any spectrum is fitted. */
export interface AutobkPlaneShape {
  /** Row width of `chi` (the longest k grid any spectrum can have). */
  kWidth: number;
  /** Row width of `coefs`/`initCoefs` (`knots`: coefWidth + 4). */
  coefWidth: number;
  /** χ(R) points per spectrum (0: none). */
  nr: number;
  /**
   * Start of each spectrum's energy-length row in `bkg`/`energy` (count + 1 values), or a
   * number: every row has that many values (a packed series).
   */
  rows: Int32Array | number;
}

/**
 * The planes of `count` spectra starting at batch index `start`. Plain typed arrays, so that a
 * worker can fill them and a chunk can move between threads.
 */
export interface AutobkColumns {
  /** Batch index of the first spectrum of these planes. */
  start: number;
  /** Number of spectra (rows of every plane). */
  count: number;
  /** Row width of `chi`: the longest k grid's points. */
  kWidth: number;
  /** Row width of `coefs` and `initCoefs`: the largest nspl. */
  coefWidth: number;
  /** Points of each χ(R) row (0 without χ(R)). */
  nr: number;
  /** Codes into AUTOBK_STATUS. */
  status: Uint8Array;
  /** Edge energy per spectrum (eV; Larch's ek0). */
  e0: Float64Array;
  /** Edge step per spectrum (Larch's edge_step). */
  edgeStep: Float64Array;
  /** Sum of squared residuals per spectrum (Larch's chisqr). */
  chisqr: Float64Array;
  /** Reduced chi-square per spectrum (Larch's redchi). */
  redchi: Float64Array;
  /** Start of the fitted k range per spectrum (Å⁻¹). */
  kmin: Float64Array;
  /** End of the fitted k range per spectrum (Å⁻¹, after clipping to the data). */
  kmax: Float64Array;
  /** rbkg used per spectrum (Å, after the floor at 2·π/(kstep·nfft)). */
  rbkg: Float64Array;
  /** Spline coefficients per spectrum (Larch's nspl). */
  nspl: Int32Array;
  /** R bins below rbkg per spectrum (Larch's irbkg). */
  irbkg: Int32Array;
  /** LM trial steps (accepted or not); residual evaluations are iterations + 1. */
  iterations: Int32Array;
  /** Points of each spectrum's k grid (its χ row) and of its cleaned energy grid (its bkg row). */
  nk: Int32Array;
  /** Points of each spectrum's cleaned energy grid (its bkg row). */
  ne: Int32Array;
  /** 1 where a spectrum's cleaned energy grid is its own row of `energy`, 0 where it is the series grid. */
  ownEnergy: Uint8Array;
  /** [count][kWidth] χ(k), divided by the edge step. */
  chi: Float64Array;
  /** [count][coefWidth] fitted spline coefficients (NaN past each row's nspl). */
  coefs: Float64Array;
  /** [count][coefWidth] initial spline coefficients (NaN past each row's nspl). */
  initCoefs: Float64Array;
  /** [count][knotWidth(coefWidth)] knots in k. */
  knots: Float64Array;
  /** Energy-length rows at rowOffsets (relative to this chunk's first row); null: formed on demand (GPU series). */
  bkg: Float64Array | null;
  /** A list's cleaned grids, rows at rowOffsets (null for a series: its few cleaned grids travel apart). */
  energy: Float64Array | null;
  /** Row starts of `bkg` and `energy` (count + 1 values). */
  rowOffsets: Int32Array;
  /** χ(R) planes [count][nr] (empty when nr = 0). */
  chirRe: Float64Array;
  /** Imaginary part of χ(R), [count][nr]. */
  chirIm: Float64Array;
  /** |χ(R)|, [count][nr]. */
  chirMag: Float64Array;
}

/** Row width of `knots`: coefWidth + 4 (0 for scalar-only columns). */
export function knotWidth(coefWidth: number): number {
  return coefWidth === 0 ? 0 : coefWidth + 4;
}

/** Field names of the scalar and plane arrays (for copying chunk planes into batch planes). */
const FLOAT_SCALARS = ['e0', 'edgeStep', 'chisqr', 'redchi', 'kmin', 'kmax', 'rbkg'] as const;
const INT_SCALARS = ['nspl', 'irbkg', 'iterations', 'nk', 'ne'] as const;

/** Allocates a typed array, on a SharedArrayBuffer when `shared` (threads then write in place). */
function alloc<T extends Float64Array | Int32Array | Uint8Array>(ctor: { new (b: ArrayBufferLike): T; BYTES_PER_ELEMENT: number }, n: number, shared: boolean): T {
  const bytes = n * ctor.BYTES_PER_ELEMENT;
  return new ctor(shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
}

/** What a fit's plan fixes for its spectrum: the grids' sizes and settings that go into the scalar columns. */
export interface FitScalars {
  nspl: number;
  irbkg: number;
  nclamp: number;
  kmin: number;
  kmax: number;
  rbkg: number;
}

/**
 * The scalar columns of one fitted spectrum (row i): its plan's settings, χ², χ²/dof (NaN when
 * the knots outnumber the residuals, as Larch leaves it), LM trials, grid sizes, status.
 */
export function writeFitScalars(
  out: AutobkColumns, i: number, f: FitScalars, e0: number, edgeStep: number, chisqr: number, iterations: number, maxIterations: boolean,
  nk: number, ne: number, ownEnergy: boolean,
): void {
  const dof = 2 * f.irbkg + 2 * f.nclamp - f.nspl;
  out.status[i] = maxIterations ? STATUS_MAX_ITERATIONS : STATUS_CONVERGED;
  out.e0[i] = e0;
  out.edgeStep[i] = edgeStep;
  out.nspl[i] = f.nspl;
  out.irbkg[i] = f.irbkg;
  out.kmin[i] = f.kmin;
  out.kmax[i] = f.kmax;
  out.rbkg[i] = f.rbkg;
  out.chisqr[i] = chisqr;
  out.redchi[i] = dof > 0 ? chisqr / dof : NaN;
  out.iterations[i] = iterations;
  out.nk[i] = nk;
  out.ne[i] = ne;
  out.ownEnergy[i] = ownEnergy ? 1 : 0;
}

/** Row offsets that are i·width (a series): a slice's relative offsets are then a prefix of them. */
const uniformRows = new WeakSet<Int32Array>();

/** Row offsets of `count` rows from batch index `start` (relative to the first). */
function rowOffsetsOf(rows: Int32Array | number, start: number, count: number): Int32Array {
  const out = new Int32Array(count + 1);
  if (typeof rows === 'number') {
    for (let i = 0; i <= count; i++) out[i] = i * rows;
    uniformRows.add(out);
  } else {
    const base = rows[start]!;
    for (let i = 0; i <= count; i++) out[i] = rows[start + i]! - base;
  }
  return out;
}

/**
 * Planes for spectra [start, start + count) of a batch of `shape`: vectors NaN (a failed or
 * shorter row stays NaN past its length; `pad: false` skips that for a writer that fills every
 * row and pads the others with padRow), statuses 'error' until written.
 */
export function allocateColumns(
  shape: AutobkPlaneShape,
  start: number,
  count: number,
  options: { shared?: boolean; bkg?: boolean; ownEnergy?: boolean; pad?: boolean } = {},
): AutobkColumns {
  const shared = options.shared ?? false;
  const pad = options.pad ?? true;
  const f64 = (n: number): Float64Array => alloc(Float64Array, n, shared);
  const padded = (n: number): Float64Array => (pad ? f64(n).fill(NaN) : f64(n));
  const i32 = (n: number): Int32Array => alloc(Int32Array, n, shared);
  const { kWidth, coefWidth, nr } = shape;
  const rowOffsets = rowOffsetsOf(shape.rows, start, count);
  const rowValues = rowOffsets[count]!;
  const c: AutobkColumns = {
    start, count, kWidth, coefWidth, nr,
    status: alloc(Uint8Array, count, shared).fill(STATUS_ERROR),
    e0: f64(count), edgeStep: f64(count), chisqr: f64(count), redchi: f64(count), kmin: f64(count), kmax: f64(count), rbkg: f64(count),
    nspl: i32(count), irbkg: i32(count), iterations: i32(count), nk: i32(count), ne: i32(count),
    ownEnergy: alloc(Uint8Array, count, shared),
    chi: padded(count * kWidth),
    coefs: padded(count * coefWidth),
    initCoefs: padded(count * coefWidth),
    knots: padded(count * knotWidth(coefWidth)),
    bkg: options.bkg ?? true ? padded(rowValues) : null,
    energy: options.ownEnergy ?? true ? padded(rowValues) : null,
    rowOffsets,
    chirRe: f64(count * nr), chirIm: f64(count * nr), chirMag: f64(count * nr),
  };
  if (pad) for (const k of FLOAT_SCALARS) c[k].fill(NaN);
  return c;
}

/** NaN over row i of a failed spectrum in planes allocated without padding. */
export function padRow(c: AutobkColumns, i: number): void {
  c.chi.fill(NaN, i * c.kWidth, (i + 1) * c.kWidth);
  c.coefs.fill(NaN, i * c.coefWidth, (i + 1) * c.coefWidth);
  c.initCoefs.fill(NaN, i * c.coefWidth, (i + 1) * c.coefWidth);
  c.knots.fill(NaN, i * knotWidth(c.coefWidth), (i + 1) * knotWidth(c.coefWidth));
  for (const k of FLOAT_SCALARS) c[k][i] = NaN;
}

/**
 * Copies chunk planes into the batch planes at the chunk's rows: one `set` per field, whatever
 * the chunk's size (chunk and batch share widths).
 */
export function copyColumns(from: AutobkColumns, into: AutobkColumns): void {
  const at = from.start - into.start;
  const n = from.count;
  into.status.set(from.status, at);
  into.ownEnergy.set(from.ownEnergy, at);
  for (const k of FLOAT_SCALARS) into[k].set(from[k], at);
  for (const k of INT_SCALARS) into[k].set(from[k], at);
  // Scalar-only batch columns (vectors streamed to onChunk) take nothing more.
  if (into.kWidth === 0 && into.coefWidth === 0) return;
  into.chi.set(from.chi, at * into.kWidth);
  into.coefs.set(from.coefs, at * into.coefWidth);
  into.initCoefs.set(from.initCoefs, at * into.coefWidth);
  into.knots.set(from.knots, at * knotWidth(into.coefWidth));
  const r0 = into.rowOffsets[at]!;
  if (from.bkg !== null && into.bkg !== null) into.bkg.set(from.bkg.subarray(0, from.rowOffsets[n]!), r0);
  if (from.energy !== null && into.energy !== null) into.energy.set(from.energy.subarray(0, from.rowOffsets[n]!), r0);
  into.chirRe.set(from.chirRe, at * into.nr);
  into.chirIm.set(from.chirIm, at * into.nr);
  into.chirMag.set(from.chirMag, at * into.nr);
}

/** The planes of rows [start, start + count) of the batch planes, as views. */
export function sliceColumns(c: AutobkColumns, start: number, count: number): AutobkColumns {
  const at = start - c.start;
  const sub = <T extends Float64Array | Int32Array | Uint8Array>(a: T, w: number): T => a.subarray(at * w, (at + count) * w) as T;
  const r0 = c.rowOffsets[at]!;
  let rowOffsets: Int32Array;
  if (uniformRows.has(c.rowOffsets)) {
    rowOffsets = c.rowOffsets.subarray(0, count + 1);
    uniformRows.add(rowOffsets);
  } else {
    rowOffsets = c.rowOffsets.slice(at, at + count + 1);
    for (let i = 0; i <= count; i++) rowOffsets[i]! -= r0;
  }
  const rows = (a: Float64Array | null): Float64Array | null => (a === null ? null : a.subarray(r0, r0 + rowOffsets[count]!));
  const kw = knotWidth(c.coefWidth);
  return {
    ...c, start, count, rowOffsets,
    status: sub(c.status, 1), ownEnergy: sub(c.ownEnergy, 1),
    e0: sub(c.e0, 1), edgeStep: sub(c.edgeStep, 1), chisqr: sub(c.chisqr, 1), redchi: sub(c.redchi, 1), kmin: sub(c.kmin, 1), kmax: sub(c.kmax, 1), rbkg: sub(c.rbkg, 1),
    nspl: sub(c.nspl, 1), irbkg: sub(c.irbkg, 1), iterations: sub(c.iterations, 1), nk: sub(c.nk, 1), ne: sub(c.ne, 1),
    chi: sub(c.chi, c.kWidth), coefs: sub(c.coefs, c.coefWidth), initCoefs: sub(c.initCoefs, c.coefWidth), knots: sub(c.knots, kw),
    bkg: rows(c.bkg), energy: rows(c.energy),
    chirRe: sub(c.chirRe, c.nr), chirIm: sub(c.chirIm, c.nr), chirMag: sub(c.chirMag, c.nr),
  };
}

/** Fills `plane` ([n][width], rows from `first`) with copies of its row `first` by doubling copies: O(log n) calls. */
export function replicateRow(plane: Float64Array, width: number, first: number, n: number): void {
  let have = 1;
  const base = first * width;
  while (have < n) {
    const m = Math.min(have, n - have);
    plane.copyWithin(base + have * width, base, base + m * width);
    have += m;
  }
}

/**
 * How bkg is formed on demand where a back end does not store it (the GPU series path): μ where
 * the spline does not reach, the spline of the coefficients on the fitted points iek0 … iek0 + nFit.
 */
export interface BkgOnDemand {
  /** μ row of spectrum i (local index): a view of the caller's array. */
  rowOf: (i: number) => Float64Array | Float32Array;
  iek0: number;
  nFit: number;
  basisE: SplineBasis;
}

/** What the records of a batch share and the sparse per-spectrum text. */
export interface AutobkBatchMeta {
  device: 'gpu' | 'cpu';
  kstep: number;
  /** The series' energy grid (packed input), or null for a list of spectra. */
  energy: Float64Array | null;
  /** χ(R)'s r grid (nr points), or null without χ(R) (set by the back end that makes it). */
  r: Float64Array | null;
}

/**
 * The results of an `autobkBatch` call, or of one streamed chunk (`start` > 0 possible): the
 * planes of AutobkColumns as read-only fields, the error message of each failed spectrum, the
 * warnings of the fitted ones, and record views.
 */
export class AutobkBatchResults implements Iterable<AutobkBatchResult> {
  /** Where the batch ran: `gpu` or `cpu`. */
  readonly device: 'gpu' | 'cpu';
  /** Batch index of the first spectrum here, and how many there are. */
  readonly start: number;
  /** Number of spectra here. */
  readonly count: number;
  /** The planes themselves (typed arrays, one row or value per spectrum). */
  readonly columns: AutobkColumns;
  /** k = kstep·i for the longest grid (spectrum i's grid is its first nk[i] points). */
  readonly k: Float64Array;
  /** χ(R)'s r grid, or null without χ(R). */
  readonly r: Float64Array | null;
  /** Error messages by batch index (status 'error'); each names the field and value. */
  readonly errors: ReadonlyMap<number, string>;
  private readonly ownRows: ReadonlyMap<number, { energy: Float64Array; bkg: Float64Array | null }>;
  private readonly warningLists: readonly (readonly string[])[];
  private readonly warningIds: Uint16Array | null;
  private readonly seriesEnergy: Float64Array | null;
  private readonly bkgSource: BkgOnDemand | null;
  private readonly meta: AutobkBatchMeta;
  private bkgPlane: Float64Array | null;

  /** @internal Results come from autobkBatch; the batch engine assembles them. */
  constructor(
    columns: AutobkColumns,
    meta: AutobkBatchMeta,
    text: { errors: ReadonlyMap<number, string>; ownRows?: ReadonlyMap<number, { energy: Float64Array; bkg: Float64Array | null }>; warningLists?: readonly (readonly string[])[]; warningIds?: Uint16Array | null },
    bkgSource: BkgOnDemand | null = null,
  ) {
    this.columns = columns;
    this.device = meta.device;
    this.start = columns.start;
    this.count = columns.count;
    this.k = new Float64Array(columns.kWidth);
    for (let i = 0; i < columns.kWidth; i++) this.k[i] = meta.kstep * i;
    this.r = meta.r;
    this.seriesEnergy = meta.energy;
    this.errors = text.errors;
    this.ownRows = text.ownRows ?? new Map();
    this.warningLists = text.warningLists ?? [[]];
    this.warningIds = text.warningIds ?? null;
    this.bkgSource = bkgSource;
    this.bkgPlane = columns.bkg;
    this.meta = meta;
  }

  /** Rows [first, start + count) as results of their own: a view, nothing copied. */
  rowsFrom(first: number): AutobkBatchResults {
    const at = first - this.start;
    if (!(Number.isInteger(at) && at >= 0 && at <= this.count)) throw new RangeError(`rowsFrom: ${first} is outside rows ${this.start}…${this.start + this.count}`);
    const src = this.bkgSource;
    return new AutobkBatchResults(
      sliceColumns(this.columns, first, this.count - at),
      this.meta,
      { errors: this.errors, ownRows: this.ownRows, warningLists: this.warningLists, warningIds: this.warningIds?.subarray(at) ?? null },
      src === null ? null : { ...src, rowOf: (i) => src.rowOf(i + at) },
    );
  }

  /** Status code per spectrum (an index into AUTOBK_STATUS). */
  get status(): Uint8Array { return this.columns.status; }
  /** Edge energy per spectrum (eV; Larch's ek0). */
  get e0(): Float64Array { return this.columns.e0; }
  /** Edge step per spectrum (Larch's edge_step). */
  get edgeStep(): Float64Array { return this.columns.edgeStep; }
  /** Sum of squared residuals per spectrum (Larch's chisqr). */
  get chisqr(): Float64Array { return this.columns.chisqr; }
  /** Reduced chi-square per spectrum (Larch's redchi). */
  get redchi(): Float64Array { return this.columns.redchi; }
  /** Levenberg–Marquardt trial steps per spectrum. */
  get iterations(): Int32Array { return this.columns.iterations; }
  /** Spline coefficients per spectrum (Larch's nspl). */
  get nspl(): Int32Array { return this.columns.nspl; }
  /** Points of each spectrum's k grid (its χ row). */
  get nk(): Int32Array { return this.columns.nk; }
  /** Points of each spectrum's cleaned energy grid (its bkg row). */
  get ne(): Int32Array { return this.columns.ne; }
  /** [count][kWidth] χ(k) (NaN past each row's nk). */
  get chi(): Float64Array { return this.columns.chi; }
  /** Row width of `chi`: the longest k grid's points. */
  get kWidth(): number { return this.columns.kWidth; }
  /** [count][coefWidth] spline coefficients (NaN past nspl), and the initial ones. */
  get coefs(): Float64Array { return this.columns.coefs; }
  /** [count][coefWidth] initial spline coefficients (NaN past nspl). */
  get initCoefs(): Float64Array { return this.columns.initCoefs; }
  /** Row width of `coefs` and `initCoefs`: the largest nspl. */
  get coefWidth(): number { return this.columns.coefWidth; }
  /** Row starts of `bkg` (count + 1 values). */
  get rowOffsets(): Int32Array { return this.columns.rowOffsets; }

  /**
   * The background of every spectrum, rows at rowOffsets. Stored by the CPU back end; on the GPU
   * series path it is formed from μ and the coefficients on first access (≈ 8·ne bytes per
   * spectrum from then on), so a caller who never reads it never pays for it.
   */
  get bkg(): Float64Array {
    if (this.bkgPlane === null) {
      const plane = new Float64Array(this.columns.rowOffsets[this.count]!).fill(NaN);
      for (let i = 0; i < this.count; i++) this.formBkg(i, plane.subarray(this.columns.rowOffsets[i]!, this.columns.rowOffsets[i + 1]!));
      this.bkgPlane = plane;
    }
    return this.bkgPlane;
  }

  /** Status name of spectrum i (local index, 0 ≤ i < count). */
  statusOf(i: number): AutobkStatusName {
    return AUTOBK_STATUS[this.columns.status[i]!]!;
  }

  /** Warnings of spectrum i (local index): what its setup clipped. */
  warningsOf(i: number): readonly string[] {
    return this.warningLists[this.warningIds === null ? 0 : this.warningIds[i]!]!;
  }

  /**
   * The cleaned energy grid (eV) spectrum i (local index) was fitted on: a view of
   * the series grid, of its row of `columns.energy`, or of a grid the series cleaning changed.
   * No record is made (what batch writers read per spectrum). Only for a spectrum not in error.
   */
  energyOf(i: number): Float64Array {
    const c = this.columns;
    if (c.ownEnergy[i] !== 1) return this.seriesEnergy!;
    const row = c.rowOffsets[i]!;
    return c.energy !== null ? c.energy.subarray(row, row + c.ne[i]!) : this.ownRows.get(this.start + i)!.energy;
  }

  /** The record of spectrum i (local index; negative counts from the end), with views into the planes. */
  at(index: number): AutobkBatchResult | undefined {
    const i = index < 0 ? index + this.count : index;
    if (!(i >= 0 && i < this.count)) return undefined;
    const c = this.columns;
    const batchIndex = this.start + i;
    if (c.status[i] === STATUS_ERROR) {
      return { status: 'error', index: batchIndex, device: this.device, error: this.errors.get(batchIndex) ?? 'not fitted' } satisfies AutobkBatchFailure;
    }
    const nk = c.nk[i]!;
    const nspl = c.nspl[i]!;
    const ne = c.ne[i]!;
    const row = c.rowOffsets[i]!;
    const cw = c.coefWidth;
    const energy = this.energyOf(i);
    let bkg: Float64Array;
    if (this.bkgPlane !== null) bkg = this.bkgPlane.subarray(row, row + ne);
    else this.formBkg(i, (bkg = new Float64Array(ne)));
    const success: AutobkBatchSuccess = {
      status: AUTOBK_STATUS[c.status[i]!] as 'converged' | 'max-iterations',
      index: batchIndex,
      device: this.device,
      energy,
      e0: c.e0[i]!,
      edgeStep: c.edgeStep[i]!,
      bkg,
      k: this.k.subarray(0, nk),
      chi: c.chi.subarray(i * c.kWidth, i * c.kWidth + nk),
      details: {
        nspl,
        irbkg: c.irbkg[i]!,
        kmin: c.kmin[i]!,
        kmax: c.kmax[i]!,
        rbkg: c.rbkg[i]!,
        knots: c.knots.subarray(i * knotWidth(cw), i * knotWidth(cw) + Math.min(nspl + 4, knotWidth(cw))),
        initCoefs: c.initCoefs.subarray(i * cw, i * cw + nspl),
        coefs: c.coefs.subarray(i * cw, i * cw + nspl),
        chisqr: c.chisqr[i]!,
        redchi: c.redchi[i]!,
        iterations: c.iterations[i]!,
        nfev: c.iterations[i]! + 1,
        warnings: this.warningsOf(i),
      },
    };
    if (c.nr > 0 && this.r !== null) {
      const o = i * c.nr;
      success.chir = { r: this.r, re: c.chirRe.subarray(o, o + c.nr), im: c.chirIm.subarray(o, o + c.nr), mag: c.chirMag.subarray(o, o + c.nr) };
    }
    return success;
  }

  /** The records of the spectra in order (views into the planes), as `at(i)` gives them. */
  *[Symbol.iterator](): Iterator<AutobkBatchResult> {
    for (let i = 0; i < this.count; i++) yield this.at(i)!;
  }

  /** Every record as a view (an array of `count` objects: for small batches and tests). */
  toRecords(): AutobkBatchResult[] {
    return Array.from(this);
  }

  /** Number of spectra with status `name`. */
  countStatus(name: AutobkStatusName): number {
    const code = AUTOBK_STATUS.indexOf(name);
    let n = 0;
    for (let i = 0; i < this.count; i++) if (this.columns.status[i] === code) n++;
    return n;
  }

  private formBkg(i: number, out: Float64Array): void {
    const src = this.bkgSource;
    if (src === null || this.columns.status[i] === STATUS_ERROR) return;
    const own = this.ownRows.get(this.start + i)?.bkg;
    if (own != null) {
      out.set(own.subarray(0, out.length));
      return;
    }
    const c = this.columns;
    out.set(src.rowOf(i).subarray(0, out.length));
    const cw = c.coefWidth;
    evalBasis(src.basisE, c.coefs.subarray(i * cw, i * cw + c.nspl[i]!), out.subarray(src.iek0, src.iek0 + src.nFit));
  }
}

/**
 * A series spectrum whose cleaning changed the series grid (non-finite μ dropped): [local index,
 * its cleaned grid, its bkg when the planes have none (formed on demand from the series grid)].
 */
export type OwnRow = [number, Float64Array, Float64Array | null];

/** Distinct warning lists of a chunk, each stored once, and the 1-based id of a list (0: none). */
export class WarningTable {
  readonly lists: string[][] = [];
  private readonly keys = new Map<string, number>();

  id(warnings: readonly string[]): number {
    if (warnings.length === 0) return 0;
    const key = warnings.join('\n');
    let id = this.keys.get(key);
    if (id === undefined) {
      id = this.lists.push(warnings.slice());
      this.keys.set(key, id);
    }
    return id;
  }
}

/** One finished chunk as a back end hands it over: planes, errors by local index, warnings. */
export interface FinishedChunk {
  columns: AutobkColumns;
  /** [local index, message] of the spectra that failed. */
  errors: readonly (readonly [number, string])[];
  /** Distinct warning lists of the chunk and each spectrum's 1-based index into them (0: none); null: no warnings. */
  warnings: { lists: readonly string[][]; ids: Uint16Array } | null;
  /** Series spectra whose cleaning changed the series grid (see OwnRow). */
  ownEnergies?: readonly OwnRow[];
  bkgOnDemand: BkgOnDemand | null;
  /** Called once the sink is done with the chunk's planes (onChunk returned): they may go. */
  release?: () => void;
}

/**
 * Collects chunks (in input order) into the batch result and hands each to `onChunk`. With
 * `retain`, the batch planes hold every spectrum; without, only the scalars (status, e0, edge
 * step, χ², …: the vectors went to onChunk), so that a stream of any length holds one chunk's
 * vectors at a time. With the count known the batch planes are allocated up front and a back end
 * may write straight into them (`target`); a stream of unknown length concatenates at the end.
 */
export class ResultSink {
  /** The batch planes back ends may write into (count known and retained), else null. */
  readonly target: AutobkColumns | null;
  private readonly shape: AutobkPlaneShape;
  private readonly scalarShape: AutobkPlaneShape = { kWidth: 0, coefWidth: 0, nr: 0, rows: 0 };
  private readonly kept: AutobkColumns[] = [];
  private readonly errors = new Map<number, string>();
  private readonly ownRows = new Map<number, { energy: Float64Array; bkg: Float64Array | null }>();
  private readonly warningLists: string[][] = [[]];
  private readonly warningKeys = new Map<string, number>();
  private readonly warningIds: Uint16Array[] = [];
  private next = 0;

  constructor(
    private readonly n: number | null,
    shape: AutobkPlaneShape,
    private readonly retain: boolean,
    private readonly meta: AutobkBatchMeta,
    private readonly onChunk: ((chunk: AutobkBatchResults) => void | Promise<void>) | undefined,
    options: { shared?: boolean; bkg?: boolean; ownEnergy?: boolean; pad?: boolean } = {},
  ) {
    this.shape = shape;
    this.target = n !== null && retain ? allocateColumns(shape, 0, n, options) : null;
    if (n !== null && !retain) this.kept.push(allocateColumns(this.scalarShape, 0, n));
  }

  /** Whether the batch result keeps every spectrum's vectors (retain), so chunk planes must outlive onChunk. */
  get retains(): boolean {
    return this.retain;
  }

  /** Spectra received so far. */
  get done(): number {
    return this.next;
  }

  /** The χ(R) grid, known once a back end has made one. */
  set r(r: Float64Array | null) {
    this.meta.r ??= r;
  }

  /**
   * Takes the next chunk in input order: copies its planes into the batch (unless they are the
   * batch's own rows), records its text and passes it to onChunk.
   */
  async add(chunk: FinishedChunk): Promise<void> {
    const c = chunk.columns;
    if (c.start !== this.next) throw new Error(`autobkBatch: chunk at ${c.start} arrived, expected ${this.next}`);
    this.next += c.count;
    for (const [s, message] of chunk.errors) this.errors.set(c.start + s, message);
    for (const [s, energy, bkg] of chunk.ownEnergies ?? []) this.ownRows.set(c.start + s, { energy, bkg });
    const ids = new Uint16Array(c.count);
    if (chunk.warnings !== null) {
      const global = chunk.warnings.lists.map((list) => {
        const key = list.join('\n');
        let id = this.warningKeys.get(key);
        if (id === undefined) {
          id = this.warningLists.push(list) - 1;
          this.warningKeys.set(key, id);
        }
        return id;
      });
      const local = chunk.warnings.ids;
      for (let s = 0; s < c.count; s++) ids[s] = local[s] === 0 ? 0 : global[local[s]! - 1]!;
    }
    this.warningIds.push(ids);
    const view = new AutobkBatchResults(c, this.meta, { errors: this.errors, ownRows: this.ownRows, warningLists: this.warningLists, warningIds: ids }, chunk.bkgOnDemand);
    if (this.target !== null) {
      if (c.chi.buffer !== this.target.chi.buffer) copyColumns(c, this.target);
      // A streamed series' μ blocks are not kept: its background is formed now, while they are at hand.
      if (chunk.bkgOnDemand !== null && this.target.bkg !== null) {
        const b = view.bkg;
        this.target.bkg.set(b.subarray(0, c.rowOffsets[c.count]!), this.target.rowOffsets[c.start]!);
      }
    } else if (this.n !== null) {
      copyColumns(c, this.kept[0]!);
    } else {
      // Unknown length: keep the chunk (all of it, or a scalar-only copy) until the end.
      if (this.retain && chunk.bkgOnDemand !== null) c.bkg = view.bkg;
      const keep = this.retain ? c : allocateColumns(this.scalarShape, c.start, c.count);
      if (!this.retain) copyColumns(c, keep);
      this.kept.push(keep);
    }
    await this.onChunk?.(view);
    chunk.release?.();
  }

  /** The batch result once every chunk has arrived. */
  finish(bkgOnDemand: BkgOnDemand | null = null): AutobkBatchResults {
    const n = this.n ?? this.next;
    if (this.next !== n) throw new Error(`autobkBatch: ${this.next} of ${n} spectra arrived`);
    let columns: AutobkColumns;
    if (this.target !== null) {
      columns = this.target;
    } else if (this.n !== null) {
      columns = this.kept[0]!;
    } else {
      columns = allocateColumns(this.retain ? this.shape : this.scalarShape, 0, n);
      for (const k of this.kept) copyColumns(k, columns);
    }
    const ids = new Uint16Array(n);
    let at = 0;
    for (const part of this.warningIds) {
      ids.set(part, at);
      at += part.length;
    }
    return new AutobkBatchResults(columns, this.meta, { errors: this.errors, ownRows: this.ownRows, warningLists: this.warningLists, warningIds: ids }, bkgOnDemand);
  }
}
