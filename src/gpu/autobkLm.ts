/**
 * The GPU buffers and kernels of one batch of AUTOBK fits (shaders/autobk_basis.wgsl,
 * shaders/fft.wgsl, shaders/autobk_lm.wgsl). The caller (src/xafs/autobkBatchGpu.ts) packs a
 * chunk of spectra into an `AutobkLmChunk`; `load` uploads it and runs, in one submission, the
 * basis-column kernel, the batched FFT over every Jacobian and data column and the Gram matrices
 * AᵀA; each `iterate` is one submission of LM trials for all active spectra that reads back
 * only the number still active; `readSolution` fetches δ and the per-spectrum state once.
 *
 * Every buffer, bind group and pipeline is created by `create` for a `AutobkLmShape` and reused
 * by every chunk that fits it (`fits`); nothing is created while iterating.
 */
import { createStorageBuffer, createUniformBuffer, paddedSize, ReadbackBuffer, upload } from './buffers.js';
import { dispatchGrid } from './chunks.js';
import type { GpuContext } from './context.js';
import { BatchedFft } from './fft.js';
import { computePipeline } from './pipelines.js';

/** Capacities of one `AutobkLm`: the largest chunk it can take. */
export interface AutobkLmShape {
  /** FFT length (AUTOBK's nfft). */
  nfft: number;
  /** Samples stored per FFT column (the largest k grid of a chunk). */
  inputLength: number;
  /** FFT bins kept per column (the largest irbkg). */
  nOut: number;
  /** Largest nspl. */
  maxCoefs: number;
  /** Clamp rows per spectrum (2·nclamp, the same for a whole batch). */
  nc: number;
  maxSpectra: number;
  maxGroups: number;
  /** Basis (Jacobian) columns of all groups together. */
  maxBasisColumns: number;
  indexWords: number;
  constFloats: number;
}

/**
 * One chunk of fits, packed for the shape of the `AutobkLm` it is loaded into. Groups are spectra that share grids, knots and window, hence A and AᵀA.
 * Layouts: see the binding comments of shaders/autobk_basis.wgsl and shaders/autobk_lm.wgsl.
 */
export interface AutobkLmChunk {
  nSpectra: number;
  nGroups: number;
  nBasisColumns: number;
  /**
   * Group records (8 words each) at 0, spectrum records (group, data column) at `spectraOffset`,
   * column → group map at `columnGroupOffset`. FFT columns: spectrum s's data in column s, the
   * groups' basis columns from nSpectra on.
   */
  index: Uint32Array;
  spectraOffset: number;
  columnGroupOffset: number;
  /** Knots, windows, clamp basis rows and weights of the groups; χ0 at the clamp points of the spectra at `chiEndOffset`. */
  consts: Float32Array;
  chiEndOffset: number;
  /** window·χ0 of each spectrum, [nSpectra][shape.inputLength] (zero padded). */
  dataColumns: Float32Array;
  kstep: number;
}

export interface AutobkLmSettings {
  /** LM trials per spectrum before 'max-iterations'. */
  maxIterations: number;
  /** Stop when the predicted reduction of χ² is at most ptol·χ². */
  ptol: number;
  /** Initial Marquardt damping (relative to diag JᵀJ). */
  lambda0: number;
}

/** Per-spectrum LM state words as read back: [λ (f32 bits), χ² (f32 bits), iterations, status]. */
export const AUTOBK_LM_STATUS = { active: 0, converged: 1, maxIterations: 2 } as const;

/** Word order of autobk_lm.wgsl's `Params` (f32 fields marked). */
const LM_PARAMS = ['nSpectra', 'nGroups', 'binStride', 'vecStride', 'matStride', 'rowStride', 'nc', 'spectra', 'chiEnd', 'maxIter', 'gridX', 'groupGridX', 'ptol'] as const;
const LM_PARAMS_F32 = new Set<string>(['ptol']);
const LM_PARAMS_WORDS = LM_PARAMS.length;
/** Words of a group record in `index` (autobk_basis.wgsl); spectrum records follow the groups. */
export const GROUP_RECORD_WORDS = 8;
const BASIS_PARAMS_WORDS = 6;
const WG = 64;

/** Bytes of lm_iterate's workgroup memory for a shape (its scratch arrays, the reduction, the flags). */
export function lmWorkgroupBytes(vec: number, rows: number, nc: number): number {
  return 4 * (2 * vec * vec + rows + 5 * vec + Math.max(1, nc) * vec + Math.max(1, nc) + WG + 8);
}

/** The basis-column kernel and the batched FFT that fill `spectrum` (absent for a series, whose caller writes it). */
interface Transform {
  fft: BatchedFft;
  pipeline: GPUComputePipeline;
  bind: GPUBindGroup;
}

export class AutobkLm {
  readonly shape: AutobkLmShape;
  /**
   * The transforms the LM reads ([columns][nOut] (re, im) f32): a spectrum's data column r0,
   * then the A columns. The FFT's output buffer, or for a series a buffer its setup kernel fills.
   */
  readonly spectrum: GPUBuffer;
  readonly consts: GPUBuffer;
  readonly delta: GPUBuffer;
  readonly normal: GPUBuffer;
  readonly state: GPUBuffer;
  private readonly ctx: GpuContext;
  private readonly transform: Transform | null;
  private readonly gramPipeline: GPUComputePipeline;
  private readonly iteratePipeline: GPUComputePipeline;
  private readonly countPipeline: GPUComputePipeline;
  private readonly basisParams: GPUBuffer;
  private readonly lmParams: GPUBuffer;
  private readonly index: GPUBuffer;
  private readonly gram: GPUBuffer;
  private readonly counter: GPUBuffer;
  private readonly gramBind: GPUBindGroup;
  private readonly iterateBind: GPUBindGroup;
  private readonly countBind: GPUBindGroup;
  private readonly statusReadback: ReadbackBuffer;
  private readonly solutionReadback: ReadbackBuffer;
  private readonly basisParamData = new ArrayBuffer(paddedSize(BASIS_PARAMS_WORDS * 4));
  private readonly lmParamData = new ArrayBuffer(paddedSize(LM_PARAMS_WORDS * 4));
  private readonly stateInit: Uint32Array;
  private readonly deltaZero: Float32Array;
  private readonly activeCount = new Uint32Array(1);
  /** Series only: where the spectra's clamp χ0 start in `consts`. */
  private seriesChiEnd: number | undefined;
  /** The loaded chunk's dispatch sizes. */
  private loaded: { nSpectra: number; nGroups: number; nBasisColumns: number } | undefined;

  private constructor(ctx: GpuContext, shape: AutobkLmShape, fft: BatchedFft | null, pipelines: GPUComputePipeline[]) {
    this.ctx = ctx;
    this.shape = shape;
    const [basisPipeline, gramPipeline, iteratePipeline, countPipeline] = pipelines as [
      GPUComputePipeline, GPUComputePipeline, GPUComputePipeline, GPUComputePipeline,
    ];
    this.gramPipeline = gramPipeline;
    this.iteratePipeline = iteratePipeline;
    this.countPipeline = countPipeline;
    const vec = shape.maxCoefs;
    const rows = 2 * shape.nOut;
    this.spectrum = fft?.spectrum ?? createStorageBuffer(ctx, 'autobk series transforms', (shape.maxSpectra + shape.maxBasisColumns) * rows * 4);
    this.basisParams = createUniformBuffer(ctx, 'autobk basis params', BASIS_PARAMS_WORDS * 4);
    this.lmParams = createUniformBuffer(ctx, 'autobk lm params', LM_PARAMS_WORDS * 4);
    this.index = createStorageBuffer(ctx, 'autobk index', shape.indexWords * 4);
    this.consts = createStorageBuffer(ctx, 'autobk consts', shape.constFloats * 4);
    this.gram = createStorageBuffer(ctx, 'autobk gram', shape.maxGroups * vec * vec * 4);
    this.delta = createStorageBuffer(ctx, 'autobk delta', shape.maxSpectra * vec * 4);
    this.state = createStorageBuffer(ctx, 'autobk state', shape.maxSpectra * 16);
    this.normal = createStorageBuffer(ctx, 'autobk normal matrices', shape.maxSpectra * vec * vec * 4);
    this.counter = createStorageBuffer(ctx, 'autobk active count', 4);
    const d = ctx.device;
    const buf = (binding: number, buffer: GPUBuffer): GPUBindGroupEntry => ({ binding, resource: { buffer } });
    this.transform = fft === null ? null : {
      fft,
      pipeline: basisPipeline,
      bind: d.createBindGroup({
        label: 'autobk basis',
        layout: basisPipeline.getBindGroupLayout(0),
        entries: [buf(0, this.basisParams), buf(1, this.index), buf(2, this.consts), buf(3, fft.columns)],
      }),
    };
    this.gramBind = d.createBindGroup({
      label: 'autobk gram',
      layout: this.gramPipeline.getBindGroupLayout(0),
      entries: [buf(0, this.lmParams), buf(1, this.index), buf(3, this.spectrum), buf(4, this.gram)],
    });
    this.iterateBind = d.createBindGroup({
      label: 'autobk lm',
      layout: this.iteratePipeline.getBindGroupLayout(0),
      entries: [
        buf(0, this.lmParams), buf(1, this.index), buf(2, this.consts), buf(3, this.spectrum), buf(4, this.gram),
        buf(5, this.delta), buf(7, this.state), buf(9, this.normal),
      ],
    });
    this.countBind = d.createBindGroup({
      label: 'autobk count',
      layout: this.countPipeline.getBindGroupLayout(0),
      entries: [buf(0, this.lmParams), buf(7, this.state), buf(8, this.counter)],
    });
    this.statusReadback = new ReadbackBuffer(ctx, 'autobk status read-back', 4);
    this.solutionReadback = new ReadbackBuffer(ctx, 'autobk solution read-back', shape.maxSpectra * ((vec + vec * vec) * 4 + 16));
    this.stateInit = new Uint32Array(4 * shape.maxSpectra);
    this.deltaZero = new Float32Array(shape.maxSpectra * vec);
  }

  /**
   * Bytes of the largest storage binding a shape needs; it must not exceed the device's
   * maxStorageBufferBindingSize (the caller cuts its chunks accordingly).
   */
  static largestBinding(shape: AutobkLmShape): number {
    const vec = shape.maxCoefs;
    const columns = shape.maxBasisColumns + shape.maxSpectra;
    return 4 * Math.max(
      columns * shape.inputLength,
      columns * 2 * shape.nOut,
      shape.maxSpectra * vec * vec,
      shape.maxGroups * vec * vec,
      shape.indexWords,
      shape.constFloats,
    );
  }

  static async create(ctx: GpuContext, shape: AutobkLmShape): Promise<AutobkLm> {
    return AutobkLm.build(ctx, shape, true);
  }

  /**
   * An LM for a packed series: one group whose A the caller uploads once (`loadSeriesDesign`)
   * and whose data columns its own setup kernel writes into `spectrum` per chunk (`startSeries`);
   * no basis kernel and no FFT. `shape.maxGroups` must be 1.
   */
  static async createForSeries(ctx: GpuContext, shape: AutobkLmShape): Promise<AutobkLm> {
    if (shape.maxGroups !== 1) throw new RangeError(`autobk: a series LM has one group, got maxGroups = ${shape.maxGroups}`);
    return AutobkLm.build(ctx, shape, false);
  }

  private static async build(ctx: GpuContext, shape: AutobkLmShape, withTransform: boolean): Promise<AutobkLm> {
    const columns = shape.maxBasisColumns + shape.maxSpectra;
    const largest = AutobkLm.largestBinding(shape);
    if (largest > ctx.limits.maxStorageBufferBindingSize) {
      throw new RangeError(`autobk: a chunk needs a ${largest}-byte binding, more than maxStorageBufferBindingSize = ${ctx.limits.maxStorageBufferBindingSize}`);
    }
    if (!AutobkLm.fitsWorkgroup(ctx, shape.maxCoefs, 2 * shape.nOut, shape.nc)) {
      throw new RangeError(`autobk: nspl = ${shape.maxCoefs} needs ${lmWorkgroupBytes(shape.maxCoefs, 2 * shape.nOut, shape.nc)} bytes of workgroup memory, more than maxComputeWorkgroupStorageSize = ${ctx.limits.maxComputeWorkgroupStorageSize}`);
    }
    const fft = withTransform
      ? await BatchedFft.create(ctx, { n: shape.nfft, nOut: shape.nOut, inputLength: shape.inputLength, capacity: columns })
      : null;
    const pipelines = await Promise.all([
      computePipeline(ctx, 'autobk_basis', 'basis_columns', { WG }),
      computePipeline(ctx, 'autobk_lm', 'gram_matrix', { WG }),
      computePipeline(ctx, 'autobk_lm', 'lm_iterate', { WG, MAXCOEF: shape.maxCoefs, MAXROWS: 2 * shape.nOut, MAXNC: Math.max(1, shape.nc) }),
      computePipeline(ctx, 'autobk_lm', 'count_active', { WG }),
    ]);
    return new AutobkLm(ctx, shape, fft, pipelines);
  }

  /** Whether lm_iterate's scratch for nspl = vec fits this device's workgroup memory. */
  static fitsWorkgroup(ctx: GpuContext, vec: number, rows: number, nc: number): boolean {
    return lmWorkgroupBytes(vec, rows, nc) <= ctx.limits.maxComputeWorkgroupStorageSize;
  }

  /** Whether a chunk of this shape can be loaded into these buffers. */
  fits(s: AutobkLmShape): boolean {
    const c = this.shape;
    return s.nfft === c.nfft && s.nc === c.nc && s.inputLength <= c.inputLength && s.nOut <= c.nOut && s.maxCoefs <= c.maxCoefs
      && s.maxSpectra <= c.maxSpectra && s.maxGroups <= c.maxGroups && s.maxBasisColumns <= c.maxBasisColumns
      && s.indexWords <= c.indexWords && s.constFloats <= c.constFloats;
  }

  /**
   * Uploads a chunk and, in one submission (not awaited: the LM's first read-back waits for it),
   * evaluates the basis columns, transforms them with the data columns and forms AᵀA per group;
   * resets every spectrum to δ = 0, λ = lambda0.
   */
  load(chunk: AutobkLmChunk, settings: AutobkLmSettings): void {
    const transform = this.transform;
    if (transform === null) throw new Error('autobk: a series LM takes its data from startSeries, not load');
    const ctx = this.ctx;
    const inputLength = this.shape.inputLength;
    const maxDim = ctx.limits.maxComputeWorkgroupsPerDimension;
    const { nSpectra, nGroups, nBasisColumns } = chunk;

    const bu = new Uint32Array(this.basisParamData);
    const bf = new Float32Array(this.basisParamData);
    bu[0] = nBasisColumns;
    bu[1] = inputLength;
    bu[2] = dispatchGrid(nBasisColumns, maxDim).x;
    bu[3] = chunk.columnGroupOffset;
    bu[4] = nSpectra;
    bf[5] = chunk.kstep;
    upload(ctx, this.basisParams, bu);
    this.writeParams(nSpectra, nGroups, chunk.spectraOffset, chunk.chiEndOffset, settings);

    upload(ctx, this.index, chunk.index);
    upload(ctx, this.consts, chunk.consts);
    // Data columns first: a spectrum's FFT column is its index in the chunk.
    upload(ctx, transform.fft.columns, chunk.dataColumns.subarray(0, nSpectra * inputLength));
    this.resetState(nSpectra, settings.lambda0);

    const totalColumns = nBasisColumns + nSpectra;
    transform.fft.prepare(totalColumns);
    ctx.submit((enc) => {
      const pass = enc.beginComputePass();
      if (nBasisColumns > 0) {
        const g = dispatchGrid(nBasisColumns, maxDim);
        pass.setPipeline(transform.pipeline);
        pass.setBindGroup(0, transform.bind);
        pass.dispatchWorkgroups(g.x, g.y);
      }
      transform.fft.encode(pass, totalColumns);
      this.encodeGram(pass, nGroups);
      pass.end();
    });
    this.loaded = { nSpectra, nGroups, nBasisColumns };
  }

  /**
   * Series only, once per series: the group record and spectrum records (`index`, group 0 with
   * col0 = shape.maxSpectra), the group's consts (clamp rows and weights; the spectra's χ0 at
   * the clamp points follow at `chiEndOffset`, written by the caller's setup kernel) and A
   * (2·nOut × nspl column-major f32) into the columns from col0; forms AᵀA.
   */
  loadSeriesDesign(index: Uint32Array, consts: Float32Array, a: Float32Array, chiEndOffset: number, settings: AutobkLmSettings): void {
    const ctx = this.ctx;
    const rows = 2 * this.shape.nOut;
    this.writeParams(0, 1, GROUP_RECORD_WORDS, chiEndOffset, settings);
    upload(ctx, this.index, index);
    upload(ctx, this.consts, consts);
    upload(ctx, this.spectrum, a, this.shape.maxSpectra * rows * 4);
    ctx.submit((enc) => {
      const pass = enc.beginComputePass();
      this.encodeGram(pass, 1);
      pass.end();
    });
    this.seriesChiEnd = chiEndOffset;
  }

  /**
   * Series only: the next chunk of `nSpectra` spectra, whose data columns, clamp χ0 and LM
   * start (λ0, δ = 0) the caller's setup kernel writes before the first trial.
   */
  startSeries(nSpectra: number, settings: AutobkLmSettings): void {
    if (this.seriesChiEnd === undefined) throw new Error('autobk: loadSeriesDesign must come first');
    if (nSpectra > this.shape.maxSpectra) throw new RangeError(`autobk: ${nSpectra} spectra exceed the capacity ${this.shape.maxSpectra}`);
    this.writeParams(nSpectra, 1, GROUP_RECORD_WORDS, this.seriesChiEnd, settings);
    this.loaded = { nSpectra, nGroups: 1, nBasisColumns: 0 };
  }

  private writeParams(nSpectra: number, nGroups: number, spectraOffset: number, chiEndOffset: number, settings: AutobkLmSettings): void {
    const shape = this.shape;
    const vec = shape.maxCoefs;
    const maxDim = this.ctx.limits.maxComputeWorkgroupsPerDimension;
    const values: Record<(typeof LM_PARAMS)[number], number> = {
      nSpectra, nGroups, binStride: 2 * shape.nOut, vecStride: vec, matStride: vec * vec, rowStride: 2 * shape.nOut, nc: shape.nc,
      spectra: spectraOffset, chiEnd: chiEndOffset, maxIter: settings.maxIterations,
      gridX: dispatchGrid(nSpectra, maxDim).x, groupGridX: dispatchGrid(nGroups, maxDim).x, ptol: settings.ptol,
    };
    const lu = new Uint32Array(this.lmParamData);
    const lf = new Float32Array(this.lmParamData);
    LM_PARAMS.forEach((name, i) => {
      if (LM_PARAMS_F32.has(name)) lf[i] = values[name];
      else lu[i] = values[name];
    });
    upload(this.ctx, this.lmParams, lu);
  }

  private encodeGram(pass: GPUComputePassEncoder, nGroups: number): void {
    const g = dispatchGrid(nGroups, this.ctx.limits.maxComputeWorkgroupsPerDimension);
    pass.setPipeline(this.gramPipeline);
    pass.setBindGroup(0, this.gramBind);
    pass.dispatchWorkgroups(g.x, g.y);
  }

  private resetState(nSpectra: number, lambda0: number): void {
    const stateF = new Float32Array(this.stateInit.buffer);
    for (let s = 0; s < nSpectra; s++) {
      stateF[4 * s] = lambda0;
      stateF[4 * s + 1] = 0;
      this.stateInit[4 * s + 2] = 0;
      this.stateInit[4 * s + 3] = AUTOBK_LM_STATUS.active;
    }
    upload(this.ctx, this.state, this.stateInit.subarray(0, 4 * nSpectra));
    upload(this.ctx, this.delta, this.deltaZero.subarray(0, nSpectra * this.shape.maxCoefs));
  }

  /** Records `trials` LM trials for every active spectrum of the loaded chunk, then the count of those still active. */
  encodeTrials(pass: GPUComputePassEncoder, trials: number): void {
    const loaded = this.requireLoaded();
    const g = dispatchGrid(loaded.nSpectra, this.ctx.limits.maxComputeWorkgroupsPerDimension);
    pass.setPipeline(this.iteratePipeline);
    pass.setBindGroup(0, this.iterateBind);
    for (let t = 0; t < trials; t++) pass.dispatchWorkgroups(g.x, g.y);
    pass.setPipeline(this.countPipeline);
    pass.setBindGroup(0, this.countBind);
    pass.dispatchWorkgroups(1);
  }

  /** Copies the active count (after encodeTrials' pass) for readActive. */
  copyActiveCount(enc: GPUCommandEncoder): void {
    this.statusReadback.copyFrom(enc, this.counter, 4);
  }

  /**
   * The active count of the last submission that copied it (its only read-back), mapped after
   * sleeping `sleepMs` of the `expectedMs` the work should take (ReadbackBuffer.mapAfter).
   */
  async readActive(sleepMs = 0, expectedMs = 0): Promise<number> {
    const mapped = await this.statusReadback.mapAfter(4, sleepMs, expectedMs);
    this.activeCount[0] = new Uint32Array(mapped, 0, 1)[0]!;
    this.statusReadback.unmap();
    return this.activeCount[0]!;
  }

  /**
   * One submission of `trials` LM trials for every active spectrum of the loaded chunk; resolves
   * to the number of spectra still active (the only read-back).
   */
  async iterate(trials: number): Promise<number> {
    this.ctx.submit((enc) => {
      const pass = enc.beginComputePass();
      this.encodeTrials(pass, trials);
      pass.end();
      this.copyActiveCount(enc);
    });
    return this.readActive();
  }

  /**
   * δ of every spectrum ([nSpectra][maxCoefs] f32, entries beyond a spectrum's nspl unused), its
   * state words [λ, χ², iterations, status] (λ and χ² as f32 bits) and JᵀJ at its last trial
   * ([nSpectra][maxCoefs²], row-major nspl × nspl at the start of each).
   */
  async readSolution(delta: Float32Array, state: Uint32Array, normal: Float32Array): Promise<void> {
    const { nSpectra } = this.requireLoaded();
    const vec = this.shape.maxCoefs;
    const deltaBytes = nSpectra * vec * 4;
    const stateBytes = nSpectra * 16;
    const normalBytes = nSpectra * vec * vec * 4;
    this.ctx.submit((enc) => {
      this.solutionReadback.copyFrom(enc, this.delta, deltaBytes);
      this.solutionReadback.copyFrom(enc, this.state, stateBytes, 0, deltaBytes);
      this.solutionReadback.copyFrom(enc, this.normal, normalBytes, 0, deltaBytes + stateBytes);
    });
    const bytes = new Uint8Array(deltaBytes + stateBytes + normalBytes);
    await this.solutionReadback.read(bytes);
    new Uint8Array(delta.buffer, delta.byteOffset, deltaBytes).set(bytes.subarray(0, deltaBytes));
    new Uint8Array(state.buffer, state.byteOffset, stateBytes).set(bytes.subarray(deltaBytes, deltaBytes + stateBytes));
    new Uint8Array(normal.buffer, normal.byteOffset, normalBytes).set(bytes.subarray(deltaBytes + stateBytes));
  }

  /** The FFT output of the loaded chunk ([columns][nOut] (re, im) f32): the data columns, then the A columns. */
  async readTransforms(out: Float32Array): Promise<void> {
    const { nSpectra, nBasisColumns } = this.requireLoaded();
    const bytes = (nSpectra + nBasisColumns) * this.shape.nOut * 8;
    const rb = new ReadbackBuffer(this.ctx, 'autobk transforms read-back', bytes);
    try {
      this.ctx.submit((enc) => rb.copyFrom(enc, this.spectrum, bytes));
      await rb.read(out.subarray(0, bytes / 4));
    } finally {
      rb.destroy();
    }
  }

  private requireLoaded(): { nSpectra: number; nGroups: number; nBasisColumns: number } {
    if (this.loaded === undefined) throw new Error('autobk: no chunk loaded');
    return this.loaded;
  }

  destroy(): void {
    for (const b of [this.basisParams, this.lmParams, this.index, this.consts, this.gram, this.delta, this.normal, this.state, this.counter]) {
      b.destroy();
    }
    this.statusReadback.destroy();
    this.solutionReadback.destroy();
    if (this.transform === null) this.spectrum.destroy();
    else this.transform.fft.destroy();
  }
}
