/**
 * AUTOBK of a packed series on the GPU (shaders/autobk_series.wgsl with the LM of
 * shaders/autobk_lm.wgsl): the shared linear maps of the series' setup, A, the basis table and
 * the edge-step functional are uploaded once; per chunk of spectra:
 *
 *   start(μ, steps, n, trials)  one submission: upload of the raw float64 μ rows, the setup
 *                               (checks, edge step, r0, clamp χ0 in df64, LM reset) and the
 *                               first `trials` LM trials with the active count copied out
 *   readActive()                the one read-back of the LM loop: spectra still active
 *   iterate(trials)             one submission of more trials and the count
 *   finish()                    one submission: polish, χ, coefficients, χ² as float64 planes
 *   readResults(columns, at)    those planes straight into the result columns
 *
 * Nothing waits for the GPU except readActive and readResults, so a caller can keep several
 * instances (chunks) in flight. Every buffer, bind group and pipeline is created by `create`
 * for a capacity of spectra and reused by every chunk; nothing is created while iterating.
 */
import { AutobkLm, GROUP_RECORD_WORDS, type AutobkLmSettings } from './autobkLm.js';
import type { AutobkColumns } from '../xafs/autobkBatchResults.js';
import { BufferUsage, createStorageBuffer, createUniformBuffer, paddedSize, ReadbackBuffer, upload, UploadBuffer } from './buffers.js';
import { dispatchGrid } from './chunks.js';
import type { GpuContext } from './context.js';
import { computePipeline } from './pipelines.js';
import { splitF64 } from './df64SelfTest.js';

/** A B-spline basis at points: four non-zeros per row from column first[i]. */
export interface SeriesBasis {
  first: Int32Array;
  vals: Float64Array;
}

/**
 * The float64 maps of one series (src/xafs/autobkSeries.ts builds them), all of
 * μ'[i] = μ[iek0 + i] − μ[iek0], i < nIn; row-major unless stated.
 */
export interface AutobkSeriesMaps {
  /** Samples of μ used (from iek0), energy points per spectrum, first fitted index. */
  nIn: number;
  ne: number;
  iek0: number;
  /** FFT rows (2·irbkg), clamp rows, coefficients, k points, fitted energy points. */
  rows: number;
  nc: number;
  nspl: number;
  nk: number;
  nFit: number;
  /** χ0 on the k grid (nk × nIn). */
  chiMap: Float64Array;
  /** Initial coefficients c0 (nspl × nIn). */
  coefMap: Float64Array;
  /** FFT rows of the residual at c0 (rows × nIn). */
  residualMap: Float64Array;
  /** The Fourier design A (rows × nspl, column-major). */
  A: Float64Array;
  /** k indices and weights of the clamp rows, their basis rows (nc × nspl). */
  clampIdx: Int32Array;
  clampW: Float64Array;
  clampBasis: Float64Array;
  /** Basis on the k grid and on the fitted energy points. */
  basisK: SeriesBasis;
  basisE: SeriesBasis;
  /** pre_edge's edge step as Σ weights[j]·μ[edgeStart + j] (src/xafs/edgeStepMap.ts), or null when every step is given. */
  edgeStart: number;
  edgeWeights: Float64Array | null;
}

const WG = 64;
/** Compute passes of one chunk timed with timestamp queries (setup + LM submissions + finish). */
const TIMED_PASSES = 16;

/** Field order of autobk_series.wgsl's `Params` (the f32 fields at the end). */
const PARAMS = [
  'nSpectra', 'gridX', 'ne', 'iek0', 'nIn', 'rows', 'nc', 'nspl', 'nk', 'rd', 'rf', 'binStride', 'chiEnd', 'vecStride', 'matStride',
  'dataStride', 'dOff', 'fOff', 'aOff', 'gOff', 'bkOff', 'wOff', 'eOff', 'eStart', 'eLen', 'stepMode',
  'oChi', 'oCoef', 'oInit', 'oStep', 'oChisq', 'oRedchi', 'oIter', 'oStatus', 'lambda0', 'dof', 'one', 'one2',
] as const;
const PARAMS_F32 = new Set<string>(['lambda0', 'dof', 'one', 'one2']);
type ParamName = (typeof PARAMS)[number];

/** One finished chunk's planes as views of the mapped read-back (see AutobkSeriesGpu.viewResults). */
export interface SeriesResultViews {
  chi: Float64Array;
  coefs: Float64Array;
  initCoefs: Float64Array;
  edgeStep: Float64Array;
  chisqr: Float64Array;
  redchi: Float64Array;
  iterations: Int32Array;
  status: Uint32Array;
  /** Unmaps the read-back: the views are gone after this. */
  release(): void;
}

/** Status codes of the `status` plane: autobkBatchResults' codes, plus REDO (left to the host). */
export const SERIES_STATUS_REDO = 3;

/** Floats of each shared part of `mats` and their offsets. */
function matsLayout(m: AutobkSeriesMaps): { dOff: number; fOff: number; aOff: number; gOff: number; bkOff: number; wOff: number; eOff: number; eLen: number; total: number } {
  const rd = m.rows + m.nc;
  const eLen = m.edgeWeights?.length ?? 0;
  const dOff = 0;
  const fOff = dOff + 3 * rd * m.nIn;
  const aOff = fOff + (m.nk + m.nspl) * m.nIn;
  const gOff = aOff + 3 * m.rows * m.nspl;
  const bkOff = gOff + 3 * m.nc * m.nspl;
  const wOff = bkOff + 5 * m.nk;
  const eOff = wOff + Math.max(1, m.nc);
  return { dOff, fOff, aOff, gOff, bkOff, wOff, eOff, eLen, total: eOff + Math.max(1, 3 * eLen) };
}

/**
 * Word offsets of the result planes in `out` for a capacity (autobk_series.wgsl, binding 10),
 * in the order they are read back: each f64 plane is whole 8-byte values, so a read-back of n
 * spectra views them as Float64Arrays.
 */
function outLayout(m: AutobkSeriesMaps, cap: number): { words: Record<'oChi' | 'oCoef' | 'oInit' | 'oStep' | 'oChisq' | 'oRedchi' | 'oIter' | 'oStatus', number>; widths: number[]; total: number } {
  // Words per spectrum of each plane, in plane order.
  const widths = [2 * m.nk, 2 * m.nspl, 2 * m.nspl, 2, 2, 2, 1, 1];
  const names = ['oChi', 'oCoef', 'oInit', 'oStep', 'oChisq', 'oRedchi', 'oIter', 'oStatus'] as const;
  const words = {} as Record<(typeof names)[number], number>;
  let at = 0;
  names.forEach((name, p) => {
    words[name] = at;
    at += cap * widths[p]!;
  });
  return { words, widths, total: at };
}

/** Bytes per spectrum of each per-spectrum binding (the largest bounds the chunk). */
function bytesPerSpectrum(m: AutobkSeriesMaps): number[] {
  const vec = m.nspl;
  return [8 * m.ne, 4 * (2 * (m.rows + m.nc) + 1), 4 * outLayout(m, 1).total, 4 * vec * vec, 4 * m.rows, 8];
}

/** Workgroup memory of series_setup/series_finish: every array autobk_series.wgsl declares. */
export function seriesWorkgroupBytes(m: AutobkSeriesMaps): number {
  return 4 * (3 * m.nIn + 3 * m.rows + 6 * m.nspl + m.nspl * m.nspl + Math.max(1, m.nc) + 2 * WG + 3);
}

export class AutobkSeriesGpu {
  readonly maps: AutobkSeriesMaps;
  readonly capacity: number;
  private readonly ctx: GpuContext;
  private readonly lm: AutobkLm;
  private readonly setupPipeline: GPUComputePipeline;
  private readonly finishPipeline: GPUComputePipeline;
  private readonly params: GPUBuffer;
  private readonly mats: GPUBuffer;
  private readonly mu: GPUBuffer;
  private readonly steps: GPUBuffer;
  private readonly data: GPUBuffer;
  private readonly out: GPUBuffer;
  private readonly setupBind: GPUBindGroup;
  private readonly finishBind: GPUBindGroup;
  private readonly readback: ReadbackBuffer;
  private readonly upload: UploadBuffer;
  private readonly layout: ReturnType<typeof outLayout>;
  private readonly paramData = new ArrayBuffer(paddedSize(PARAMS.length * 4));
  private readonly stepMode: 0 | 1;
  private readonly settings: AutobkLmSettings;
  private nSpectra = 0;
  /** Timestamp queries of the chunk's passes, where the device has them. */
  private readonly timer: { querySet: GPUQuerySet; resolve: GPUBuffer } | null;
  private passes = 0;
  /** GPU time of the last chunk read by readResults (ms), or NaN without timestamps. */
  gpuMs = NaN;
  /** The last LM submission (for readActive's sleep) and the wall time per trial seen so far. */
  private submitted = { at: 0, trials: 0 };
  private msPerTrial = 0;
  /** When the last finish was submitted, and its wall time per spectrum. */
  private finished = 0;
  private msPerFinished = 0;

  private constructor(ctx: GpuContext, maps: AutobkSeriesMaps, capacity: number, lm: AutobkLm, pipelines: GPUComputePipeline[], settings: AutobkLmSettings) {
    this.ctx = ctx;
    this.maps = maps;
    this.capacity = capacity;
    this.lm = lm;
    this.settings = settings;
    this.stepMode = maps.edgeWeights === null ? 0 : 1;
    [this.setupPipeline, this.finishPipeline] = pipelines as [GPUComputePipeline, GPUComputePipeline];
    const m = maps;
    const rd = m.rows + m.nc;
    const mats = matsLayout(m);
    this.layout = outLayout(m, capacity);
    this.params = createUniformBuffer(ctx, 'autobk series params', PARAMS.length * 4);
    this.mats = createStorageBuffer(ctx, 'autobk series maps', mats.total * 4);
    this.mu = createStorageBuffer(ctx, 'autobk series mu', capacity * m.ne * 8);
    this.upload = new UploadBuffer(ctx, 'autobk series mu upload', capacity * m.ne * 8);
    this.steps = createStorageBuffer(ctx, 'autobk series given edge steps', capacity * 8);
    this.data = createStorageBuffer(ctx, 'autobk series r0', capacity * (2 * rd + 1) * 4);
    this.out = createStorageBuffer(ctx, 'autobk series results', this.layout.total * 4);
    this.readback = new ReadbackBuffer(ctx, 'autobk series read-back', this.layout.total * 4 + 16 * TIMED_PASSES);
    this.timer = ctx.hasTimestamps
      ? {
          querySet: ctx.device.createQuerySet({ type: 'timestamp', count: 2 * TIMED_PASSES }),
          resolve: ctx.device.createBuffer({ label: 'autobk series timestamps', size: 16 * TIMED_PASSES, usage: BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC }),
        }
      : null;
    const d = ctx.device;
    const buf = (binding: number, buffer: GPUBuffer): GPUBindGroupEntry => ({ binding, resource: { buffer } });
    this.setupBind = d.createBindGroup({
      label: 'autobk series setup',
      layout: this.setupPipeline.getBindGroupLayout(0),
      entries: [
        buf(0, this.params), buf(1, this.mats), buf(2, this.mu), buf(3, this.steps), buf(4, this.data), buf(5, lm.spectrum), buf(6, lm.consts),
        buf(7, lm.delta), buf(9, lm.state), buf(10, this.out),
      ],
    });
    this.finishBind = d.createBindGroup({
      label: 'autobk series finish',
      layout: this.finishPipeline.getBindGroupLayout(0),
      entries: [buf(0, this.params), buf(1, this.mats), buf(2, this.mu), buf(4, this.data), buf(7, lm.delta), buf(8, lm.normal), buf(9, lm.state), buf(10, this.out)],
    });
    upload(ctx, this.mats, packMats(m, mats));
  }

  /**
   * The largest chunk (≤ maxChunk) whose per-spectrum buffers fit one storage binding, or 0
   * when the series does not fit the device at all (workgroup memory of its kernels).
   */
  static capacityFor(ctx: GpuContext, maps: AutobkSeriesMaps, maxChunk: number): number {
    const lim = ctx.limits;
    if (seriesWorkgroupBytes(maps) > lim.maxComputeWorkgroupStorageSize) return 0;
    if (!AutobkLm.fitsWorkgroup(ctx, maps.nspl, maps.rows, maps.nc)) return 0;
    let cap = maxChunk;
    for (const b of bytesPerSpectrum(maps)) cap = Math.min(cap, Math.floor((lim.maxStorageBufferBindingSize - 1024) / b));
    const perDim = lim.maxComputeWorkgroupsPerDimension;
    return Math.max(0, Math.min(cap, perDim * perDim));
  }

  /** Buffers for chunks of up to `capacity` spectra (see capacityFor); uploads the shared maps and forms AᵀA. */
  static async create(ctx: GpuContext, maps: AutobkSeriesMaps, capacity: number, settings: AutobkLmSettings): Promise<AutobkSeriesGpu> {
    if (!(Number.isInteger(capacity) && capacity >= 1 && capacity <= AutobkSeriesGpu.capacityFor(ctx, maps, capacity))) {
      throw new RangeError(`autobk series: capacity = ${capacity} does not fit this device (at most ${AutobkSeriesGpu.capacityFor(ctx, maps, Number.MAX_SAFE_INTEGER)})`);
    }
    const m = maps;
    const nOut = m.rows / 2;
    const lm = await AutobkLm.createForSeries(ctx, {
      nfft: 0, inputLength: 1, nOut, maxCoefs: m.nspl, nc: m.nc, maxSpectra: capacity, maxGroups: 1, maxBasisColumns: m.nspl,
      indexWords: GROUP_RECORD_WORDS + 2 * capacity, constFloats: m.nc * m.nspl + m.nc + capacity * m.nc,
    });
    const constants = { WG, MAXIN: m.nIn, MAXROWS: m.rows, MAXCOEF: m.nspl, MAXNC: Math.max(1, m.nc) };
    let pipelines: GPUComputePipeline[];
    try {
      pipelines = await Promise.all([
        computePipeline(ctx, 'autobk_series', 'series_setup', constants),
        computePipeline(ctx, 'autobk_series', 'series_finish', constants),
      ]);
    } catch (e) {
      lm.destroy();
      throw e;
    }
    const series = new AutobkSeriesGpu(ctx, maps, capacity, lm, pipelines, settings);

    // The LM's group 0: A columns after the capacity's data columns, clamp rows and weights.
    const index = new Uint32Array(GROUP_RECORD_WORDS + 2 * capacity);
    const clampW0 = m.nc * m.nspl;
    index.set([capacity, m.nspl, m.rows, m.nk, 0, 0, 0, clampW0]);
    for (let s = 0; s < capacity; s++) index[GROUP_RECORD_WORDS + 2 * s + 1] = s;
    const consts = new Float32Array(clampW0 + m.nc);
    consts.set(m.clampBasis);
    consts.set(m.clampW, clampW0);
    lm.loadSeriesDesign(index, consts, Float32Array.from(m.A), clampW0 + m.nc, settings);
    return series;
  }

  /**
   * Submits a chunk: its μ rows ([nSpectra][ne] values, in pieces of whole rows: float64, or
   * float32 widened exactly) and, when the edge steps are given, theirs ([nSpectra] float64 words); the setup and the first `trials` LM
   * trials run in the same submission. Awaits only the upload buffer's mapping (free once this
   * instance's previous chunk has started); readActive tells how many spectra the trials left active.
   */
  async start(muRows: readonly (Float64Array | Float32Array)[], stepWords: Uint32Array | null, nSpectra: number, trials: number): Promise<void> {
    const m = this.maps;
    if (!(Number.isInteger(nSpectra) && nSpectra >= 1 && nSpectra <= this.capacity)) {
      throw new RangeError(`autobk series: nSpectra = ${nSpectra} must be in 1..${this.capacity}`);
    }
    let values = 0;
    for (const p of muRows) values += p.length;
    if (values !== nSpectra * m.ne) throw new RangeError(`autobk series: ${values} μ values, need ${nSpectra * m.ne}`);
    if ((stepWords === null) !== (this.stepMode === 1)) throw new RangeError('autobk series: edge steps are given exactly when the series has no edge-step functional');
    const ctx = this.ctx;
    const g = dispatchGrid(nSpectra, ctx.limits.maxComputeWorkgroupsPerDimension);
    // The pieces are gathered (float32 ones widened) straight into the mapped upload buffer.
    const muBytes = 8 * nSpectra * m.ne;
    await this.upload.fill(muBytes, (mapped) => {
      const f = new Float64Array(mapped, 0, nSpectra * m.ne);
      let o = 0;
      for (const p of muRows) {
        f.set(p, o);
        o += p.length;
      }
    });
    this.writeParams(nSpectra, g.x);
    if (stepWords !== null) upload(ctx, this.steps, stepWords.subarray(0, 2 * nSpectra));
    this.lm.startSeries(nSpectra, this.settings);
    this.nSpectra = nSpectra;
    this.passes = 0;
    ctx.submit((enc) => {
      this.upload.copyTo(enc, this.mu, muBytes);
      const pass = this.beginPass(enc);
      pass.setPipeline(this.setupPipeline);
      pass.setBindGroup(0, this.setupBind);
      pass.dispatchWorkgroups(g.x, g.y);
      this.lm.encodeTrials(pass, trials);
      pass.end();
      this.lm.copyActiveCount(enc);
    });
    this.submitted = { at: performance.now(), trials };
  }

  /** Submits `trials` more LM trials for the active spectra of the loaded chunk, and their count. */
  iterate(trials: number): void {
    this.ctx.submit((enc) => {
      const pass = this.beginPass(enc);
      this.lm.encodeTrials(pass, trials);
      pass.end();
      this.lm.copyActiveCount(enc);
    });
    this.submitted = { at: performance.now(), trials };
  }

  /**
   * Spectra still active after the last submission (the LM loop's only read-back). While a
   * mapping is pending, Dawn's Node binding polls the device from this thread (a busy core and
   * garbage for V8's collector), so when the trials are expected to take long, the thread first
   * sleeps through half the time the previous submissions' trials took, then probes the mapping
   * (ReadbackBuffer.mapAfter; the other slot's work makes the estimate loose).
   */
  async readActive(): Promise<number> {
    const elapsed = performance.now() - this.submitted.at;
    const expected = this.msPerTrial * this.submitted.trials;
    const active = await this.lm.readActive(0.5 * expected - elapsed, expected);
    if (this.submitted.trials > 0) this.msPerTrial = (performance.now() - this.submitted.at) / this.submitted.trials;
    return active;
  }

  /** Submits the polish step and the result planes of the loaded chunk, copied for readResults. */
  finish(): void {
    const n = this.nSpectra;
    if (n === 0) throw new Error('autobk series: no chunk loaded');
    if (this.readback.mapped) throw new Error('autobk series: the previous chunk\'s result views are still held; release them first');
    const ctx = this.ctx;
    const g = dispatchGrid(n, ctx.limits.maxComputeWorkgroupsPerDimension);
    const { widths, words } = this.layout;
    const starts = Object.values(words);
    ctx.submit((enc) => {
      const pass = this.beginPass(enc);
      pass.setPipeline(this.finishPipeline);
      pass.setBindGroup(0, this.finishBind);
      pass.dispatchWorkgroups(g.x, g.y);
      pass.end();
      // Plane p's first n rows, packed one after another, then the pass timestamps.
      let dst = 0;
      widths.forEach((w, p) => {
        this.readback.copyFrom(enc, this.out, n * w * 4, starts[p]! * 4, dst * 4);
        dst += n * w;
      });
      const timed = Math.min(this.passes, TIMED_PASSES);
      if (this.timer !== null && timed > 0) {
        enc.resolveQuerySet(this.timer.querySet, 0, 2 * timed, this.timer.resolve, 0);
        this.readback.copyFrom(enc, this.timer.resolve, 16 * timed, 0, Math.ceil(dst / 2) * 8);
      }
    });
    this.finished = performance.now();
  }

  /**
   * Waits for the finished chunk and maps its planes: views (valid until `release`) of χ
   * ([n][nk] float64), the coefficients and initial ones ([n][nspl]), edge step, χ², reduced χ²
   * (float64), iterations (int32) and status codes (u32: autobkBatchResults' codes, REDO for
   * spectra left to the host). The views may be written (the host fills REDO rows); the next
   * `finish` needs them released.
   */
  async viewResults(): Promise<SeriesResultViews> {
    const m = this.maps;
    const n = this.nSpectra;
    const planeWords = n * this.layout.widths.reduce((a, w) => a + w, 0);
    const timed = this.timer === null ? 0 : Math.min(this.passes, TIMED_PASSES);
    const stampsAt = Math.ceil(planeWords / 2) * 8;
    // As readActive: sleep through half the time the last finish took per spectrum, then probe.
    const expected = this.msPerFinished * n;
    const sleep = 0.5 * expected - (performance.now() - this.finished);
    const mapped = await this.readback.mapAfter(timed > 0 ? stampsAt + 16 * timed : 4 * planeWords, sleep, expected);
    this.msPerFinished = (performance.now() - this.finished) / n;
    let o = 0;
    const f64 = (count: number): Float64Array => {
      const v = new Float64Array(mapped, o, count);
      o += 8 * count;
      return v;
    };
    const chi = f64(n * m.nk);
    const coefs = f64(n * m.nspl);
    const initCoefs = f64(n * m.nspl);
    const edgeStep = f64(n);
    const chisqr = f64(n);
    const redchi = f64(n);
    const iterations = new Int32Array(mapped, o, n);
    const status = new Uint32Array(mapped, o + 4 * n, n);
    this.gpuMs = NaN;
    if (timed > 0) {
      const ticks = new BigUint64Array(mapped, stampsAt, 2 * timed);
      let ns = 0n;
      for (let p = 0; p < timed; p++) ns += ticks[2 * p + 1]! - ticks[2 * p]!;
      this.gpuMs = Number(ns) / 1e6;
    }
    return { chi, coefs, initCoefs, edgeStep, chisqr, redchi, iterations, status, release: () => this.readback.unmap() };
  }

  /** viewResults copied into `into` from row `at` (whose widths are this series': kWidth = nk, coefWidth = nspl), then released. */
  async readResults(into: AutobkColumns, at: number): Promise<void> {
    const m = this.maps;
    if (into.kWidth !== m.nk || into.coefWidth !== m.nspl) throw new RangeError(`autobk series: columns of widths ${into.kWidth}/${into.coefWidth}, need ${m.nk}/${m.nspl}`);
    const v = await this.viewResults();
    try {
      into.chi.set(v.chi, at * m.nk);
      into.coefs.set(v.coefs, at * m.nspl);
      into.initCoefs.set(v.initCoefs, at * m.nspl);
      into.edgeStep.set(v.edgeStep, at);
      into.chisqr.set(v.chisqr, at);
      into.redchi.set(v.redchi, at);
      into.iterations.set(v.iterations, at);
      into.status.set(v.status, at);
    } finally {
      v.release();
    }
  }

  /** A compute pass, with its begin/end timestamps written where the device has them (and slots are left). */
  private beginPass(enc: GPUCommandEncoder): GPUComputePassEncoder {
    const p = this.passes++;
    if (this.timer === null || p >= TIMED_PASSES) return enc.beginComputePass();
    return enc.beginComputePass({ timestampWrites: { querySet: this.timer.querySet, beginningOfPassWriteIndex: 2 * p, endOfPassWriteIndex: 2 * p + 1 } });
  }

  /**
   * Test/diagnostic read-back (a staging buffer made for the call): r0 and the clamp χ0 of the
   * started chunk in df64, [nSpectra][2·(rows + nc)] (hi values, then lo values).
   */
  async readSetup(out: Float32Array): Promise<void> {
    const rd = this.maps.rows + this.maps.nc;
    const stride = 2 * rd + 1;
    const rb = new ReadbackBuffer(this.ctx, 'autobk series r0 read-back', this.nSpectra * stride * 4);
    try {
      this.ctx.submit((enc) => rb.copyFrom(enc, this.data, this.nSpectra * stride * 4));
      const all = new Float32Array(this.nSpectra * stride);
      await rb.read(all);
      for (let s = 0; s < this.nSpectra; s++) out.set(all.subarray(s * stride, s * stride + 2 * rd), s * 2 * rd);
    } finally {
      rb.destroy();
    }
  }

  private writeParams(nSpectra: number, gridX: number): void {
    const m = this.maps;
    const l = matsLayout(m);
    const values: Record<ParamName, number> = {
      nSpectra, gridX, ne: m.ne, iek0: m.iek0, nIn: m.nIn, rows: m.rows, nc: m.nc, nspl: m.nspl, nk: m.nk, rd: m.rows + m.nc,
      rf: m.nk + m.nspl, binStride: m.rows, chiEnd: m.nc * m.nspl + m.nc, vecStride: m.nspl, matStride: m.nspl * m.nspl,
      dataStride: 2 * (m.rows + m.nc) + 1, dOff: l.dOff, fOff: l.fOff, aOff: l.aOff, gOff: l.gOff, bkOff: l.bkOff, wOff: l.wOff,
      eOff: l.eOff, eStart: m.edgeStart, eLen: l.eLen, stepMode: this.stepMode, ...this.layout.words,
      lambda0: this.settings.lambda0, dof: m.rows + m.nc - m.nspl,
      // 1.0 twice from a uniform: the compiler cannot fold the error-free transforms that multiply by them.
      one: 1, one2: 1,
    };
    const u = new Uint32Array(this.paramData);
    const f = new Float32Array(this.paramData);
    PARAMS.forEach((name, i) => {
      if (PARAMS_F32.has(name)) f[i] = values[name];
      else u[i] = values[name];
    });
    upload(this.ctx, this.params, u);
  }

  destroy(): void {
    for (const b of [this.params, this.mats, this.mu, this.steps, this.data, this.out]) b.destroy();
    this.readback.destroy();
    this.upload.destroy();
    this.timer?.querySet.destroy();
    this.timer?.resolve.destroy();
    this.lm.destroy();
  }
}

/** The shared maps in the float layout of autobk_series.wgsl's `mats`. */
function packMats(m: AutobkSeriesMaps, l: ReturnType<typeof matsLayout>): Float32Array {
  const mats = new Float32Array(l.total);
  const rd = m.rows + m.nc;
  const rf = m.nk + m.nspl;
  const dPlane = rd * m.nIn;
  for (let i = 0; i < m.nIn; i++) {
    for (let r = 0; r < rd; r++) {
      const v = r < m.rows ? m.residualMap[r * m.nIn + i]! : m.chiMap[m.clampIdx[r - m.rows]! * m.nIn + i]!;
      splitF64(v, mats, l.dOff + i * rd + r, dPlane);
    }
    for (let r = 0; r < rf; r++) {
      mats[l.fOff + i * rf + r] = r < m.nk ? m.chiMap[r * m.nIn + i]! : m.coefMap[(r - m.nk) * m.nIn + i]!;
    }
  }
  const aPlane = m.rows * m.nspl;
  for (let e = 0; e < aPlane; e++) splitF64(m.A[e]!, mats, l.aOff + e, aPlane);
  const gPlane = m.nc * m.nspl;
  for (let e = 0; e < gPlane; e++) splitF64(m.clampBasis[e]!, mats, l.gOff + e, gPlane);
  for (let i = 0; i < m.nk; i++) {
    mats[l.bkOff + 5 * i] = m.basisK.first[i]!;
    for (let k = 0; k < 4; k++) mats[l.bkOff + 5 * i + 1 + k] = m.basisK.vals[4 * i + k]!;
  }
  for (let q = 0; q < m.nc; q++) mats[l.wOff + q] = m.clampW[q]!;
  if (m.edgeWeights !== null) for (let j = 0; j < l.eLen; j++) splitF64(m.edgeWeights[j]!, mats, l.eOff + j, l.eLen);
  return mats;
}
