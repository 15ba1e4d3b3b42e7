/**
 * AUTOBK of a packed series on the GPU (shaders/autobk_series.wgsl with the LM of
 * shaders/autobk_lm.wgsl): the shared linear maps of the series' setup, A and the basis tables
 * are uploaded once; per chunk the raw float64 μ rows are uploaded as they are, one submission
 * forms every spectrum's r0 and clamp χ0 (df64 mat-vecs), the LM runs in lockstep as for any
 * batch, and one more submission polishes each solution with a df64 Gauss–Newton step and
 * assembles χ, μ − bkg, the coefficients and χ², read back in one copy.
 *
 * Every buffer, bind group and pipeline is created by `create` for a capacity of spectra and
 * reused by every chunk; nothing is created while iterating.
 */
import { AutobkLm, GROUP_RECORD_WORDS, type AutobkLmSettings } from './autobkLm.js';
import { createStorageBuffer, createUniformBuffer, paddedSize, ReadbackBuffer, upload } from './buffers.js';
import { dispatchGrid } from './chunks.js';
import type { GpuContext } from './context.js';
import { computePipeline } from './pipelines.js';

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
}

/** One chunk's results as read back (f32), views of one array. */
export interface AutobkSeriesOutput {
  /** χ on the k grid, already divided by the edge step: [nSpectra][nk]. */
  chi: Float32Array;
  /** μ − bkg on the fitted points energy[iek0 + i]: [nSpectra][nFit]. */
  muMinusBkg: Float32Array;
  /** Coefficients and initial coefficients minus μ[iek0]: [nSpectra][nspl] each. */
  coefs: Float32Array;
  initCoefs: Float32Array;
  /** Per spectrum: χ², LM iterations, LM status (AUTOBK_LM_STATUS), 1 if the polish step was kept. */
  misc: Float32Array;
}

const WG = 64;
const PARAMS_WORDS = 26;

/** hi + lo = v to ~2⁻⁴⁸, hi split into halves of ≤ 12 bits (as the shader's `split`). */
function splitF64(v: number, planes: Float32Array, at: number, planeSize: number): void {
  const hi = Math.fround(v);
  const c = Math.fround(4097 * hi);
  const h1 = Math.fround(c - Math.fround(c - hi));
  planes[at] = h1;
  planes[at + planeSize] = Math.fround(hi - h1);
  planes[at + 2 * planeSize] = Math.fround(v - hi);
}

/** Floats of each shared part of `mats` and their offsets. */
function matsLayout(m: AutobkSeriesMaps): { dOff: number; fOff: number; aOff: number; gOff: number; bkOff: number; beOff: number; wOff: number; total: number } {
  const rd = m.rows + m.nc;
  const dOff = 0;
  const fOff = dOff + 3 * rd * m.nIn;
  const aOff = fOff + (m.nk + m.nspl) * m.nIn;
  const gOff = aOff + 3 * m.rows * m.nspl;
  const bkOff = gOff + 3 * m.nc * m.nspl;
  const beOff = bkOff + 5 * m.nk;
  const wOff = beOff + 5 * m.nFit;
  return { dOff, fOff, aOff, gOff, bkOff, beOff, wOff, total: wOff + Math.max(1, m.nc) };
}

function outFloats(m: AutobkSeriesMaps): number {
  return m.nk + m.nFit + 2 * m.nspl + 4;
}

/** Bytes per spectrum of each per-spectrum binding (the largest bounds the chunk). */
function bytesPerSpectrum(m: AutobkSeriesMaps): number[] {
  const vec = m.nspl;
  return [8 * m.ne, 8 * (m.rows + m.nc), 4 * outFloats(m), 4 * (vec * vec + m.rows + 5 * vec + m.nc * vec + m.nc), 4 * m.rows];
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
  private readonly inv: GPUBuffer;
  private readonly data: GPUBuffer;
  private readonly out: GPUBuffer;
  private readonly setupBind: GPUBindGroup;
  private readonly finishBind: GPUBindGroup;
  private readonly readback: ReadbackBuffer;
  private readonly paramData = new ArrayBuffer(paddedSize(PARAMS_WORDS * 4));
  private nSpectra = 0;

  private constructor(ctx: GpuContext, maps: AutobkSeriesMaps, capacity: number, lm: AutobkLm, pipelines: GPUComputePipeline[]) {
    this.ctx = ctx;
    this.maps = maps;
    this.capacity = capacity;
    this.lm = lm;
    [this.setupPipeline, this.finishPipeline] = pipelines as [GPUComputePipeline, GPUComputePipeline];
    const m = maps;
    const rd = m.rows + m.nc;
    const layout = matsLayout(m);
    this.params = createUniformBuffer(ctx, 'autobk series params', PARAMS_WORDS * 4);
    this.mats = createStorageBuffer(ctx, 'autobk series maps', layout.total * 4);
    this.mu = createStorageBuffer(ctx, 'autobk series mu', capacity * m.ne * 8);
    this.inv = createStorageBuffer(ctx, 'autobk series 1/edge step', capacity * 4);
    this.data = createStorageBuffer(ctx, 'autobk series r0', capacity * 2 * rd * 4);
    this.out = createStorageBuffer(ctx, 'autobk series results', capacity * outFloats(m) * 4);
    this.readback = new ReadbackBuffer(ctx, 'autobk series read-back', capacity * outFloats(m) * 4);
    const d = ctx.device;
    const buf = (binding: number, buffer: GPUBuffer): GPUBindGroupEntry => ({ binding, resource: { buffer } });
    this.setupBind = d.createBindGroup({
      label: 'autobk series setup',
      layout: this.setupPipeline.getBindGroupLayout(0),
      entries: [buf(0, this.params), buf(1, this.mats), buf(2, this.mu), buf(4, this.data), buf(5, lm.spectrum), buf(6, lm.consts)],
    });
    this.finishBind = d.createBindGroup({
      label: 'autobk series finish',
      layout: this.finishPipeline.getBindGroupLayout(0),
      entries: [
        buf(0, this.params), buf(1, this.mats), buf(2, this.mu), buf(3, this.inv), buf(4, this.data), buf(7, lm.delta),
        buf(8, lm.normal), buf(9, lm.state), buf(10, this.out),
      ],
    });
    upload(ctx, this.mats, packMats(m, layout));
  }

  /**
   * The largest chunk (≤ maxChunk) whose per-spectrum buffers fit one storage binding, or 0
   * when the series does not fit the device at all (its μ samples exceed workgroup memory).
   */
  static capacityFor(ctx: GpuContext, maps: AutobkSeriesMaps, maxChunk: number): number {
    const lim = ctx.limits;
    // series_setup holds three floats per μ sample in workgroup memory.
    if (12 * maps.nIn + 4 * WG > lim.maxComputeWorkgroupStorageSize) return 0;
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
    const series = new AutobkSeriesGpu(ctx, maps, capacity, lm, pipelines);

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
   * Uploads a chunk — μ rows as float64 words ([nSpectra][ne] values) and 1/edgeStep per
   * spectrum — and, in one submission (awaited), forms r0 and the clamp χ0 of every spectrum;
   * resets the LM to δ = 0.
   */
  async load(muWords: Uint32Array, invEdge: Float32Array, nSpectra: number, settings: AutobkLmSettings): Promise<void> {
    const m = this.maps;
    if (!(Number.isInteger(nSpectra) && nSpectra >= 1 && nSpectra <= this.capacity)) {
      throw new RangeError(`autobk series: nSpectra = ${nSpectra} must be in 1..${this.capacity}`);
    }
    if (muWords.length < 2 * nSpectra * m.ne) throw new RangeError(`autobk series: ${muWords.length} μ words, need ${2 * nSpectra * m.ne}`);
    const ctx = this.ctx;
    const g = dispatchGrid(nSpectra, ctx.limits.maxComputeWorkgroupsPerDimension);
    this.writeParams(nSpectra, g.x);
    upload(ctx, this.mu, muWords.subarray(0, 2 * nSpectra * m.ne));
    upload(ctx, this.inv, invEdge.subarray(0, nSpectra));
    this.lm.startSeries(nSpectra, settings);
    ctx.submit((enc) => {
      const pass = enc.beginComputePass();
      pass.setPipeline(this.setupPipeline);
      pass.setBindGroup(0, this.setupBind);
      pass.dispatchWorkgroups(g.x, g.y);
      pass.end();
    });
    this.nSpectra = nSpectra;
    await ctx.device.queue.onSubmittedWorkDone();
    await ctx.settle();
  }

  /** One submission of LM trials (see AutobkLm.iterate); resolves to the spectra still active. */
  iterate(trials: number): Promise<number> {
    return this.lm.iterate(trials);
  }

  /** The polish step and the results of the loaded chunk, read back into `target` (≥ capacity·outFloats). */
  async finish(target: Float32Array): Promise<AutobkSeriesOutput> {
    const m = this.maps;
    const n = this.nSpectra;
    if (n === 0) throw new Error('autobk series: no chunk loaded');
    const cap = this.capacity;
    const ctx = this.ctx;
    const g = dispatchGrid(n, ctx.limits.maxComputeWorkgroupsPerDimension);
    // Plane p of the output starts at cap·(sum of earlier widths); only the chunk's n rows are copied.
    const widths = [m.nk, m.nFit, m.nspl, m.nspl, 4];
    const views: Float32Array[] = [];
    ctx.submit((enc) => {
      const pass = enc.beginComputePass();
      pass.setPipeline(this.finishPipeline);
      pass.setBindGroup(0, this.finishBind);
      pass.dispatchWorkgroups(g.x, g.y);
      pass.end();
      let src = 0;
      let dst = 0;
      for (const w of widths) {
        this.readback.copyFrom(enc, this.out, n * w * 4, src * 4, dst * 4);
        views.push(target.subarray(dst, dst + n * w));
        src += cap * w;
        dst += n * w;
      }
    });
    await this.readback.read(target.subarray(0, n * outFloats(m)));
    const [chi, muMinusBkg, coefs, initCoefs, misc] = views as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
    return { chi, muMinusBkg, coefs, initCoefs, misc };
  }

  /** r0 and the clamp χ0 of the loaded chunk in df64, [nSpectra][2·(rows + nc)] (hi values, then lo values). */
  async readSetup(out: Float32Array): Promise<void> {
    const bytes = this.nSpectra * 2 * (this.maps.rows + this.maps.nc) * 4;
    const rb = new ReadbackBuffer(this.ctx, 'autobk series r0 read-back', bytes);
    try {
      this.ctx.submit((enc) => rb.copyFrom(enc, this.data, bytes));
      await rb.read(out.subarray(0, bytes / 4));
    } finally {
      rb.destroy();
    }
  }

  /** Floats of one chunk's read-back for `n` spectra. */
  static outputFloats(maps: AutobkSeriesMaps, n: number): number {
    return n * outFloats(maps);
  }

  private writeParams(nSpectra: number, gridX: number): void {
    const m = this.maps;
    const l = matsLayout(m);
    const u = new Uint32Array(this.paramData);
    const f = new Float32Array(this.paramData);
    u.set([
      nSpectra, gridX, m.ne, m.iek0, m.nIn, m.rows, m.nc, m.nspl, m.nk, m.nFit, m.rows + m.nc, m.nk + m.nspl,
      m.rows, m.nc * m.nspl + m.nc, m.nspl, m.nspl * m.nspl, l.dOff, l.fOff, l.aOff, l.gOff, l.bkOff, l.beOff, l.wOff,
      this.capacity,
    ]);
    // 1.0 twice from a uniform: the compiler cannot fold the error-free transforms that multiply by them.
    f[24] = 1;
    f[25] = 1;
    upload(this.ctx, this.params, u);
  }

  destroy(): void {
    for (const b of [this.params, this.mats, this.mu, this.inv, this.data, this.out]) b.destroy();
    this.readback.destroy();
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
  const basisTable = (b: SeriesBasis, count: number, o: number): void => {
    for (let i = 0; i < count; i++) {
      mats[o + 5 * i] = b.first[i]!;
      for (let k = 0; k < 4; k++) mats[o + 5 * i + 1 + k] = b.vals[4 * i + k]!;
    }
  };
  basisTable(m.basisK, m.nk, l.bkOff);
  basisTable(m.basisE, m.nFit, l.beOff);
  for (let q = 0; q < m.nc; q++) mats[l.wOff + q] = m.clampW[q]!;
  return mats;
}
