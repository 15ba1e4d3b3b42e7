/**
 * GPU buffers and passes that measure every star of one frame (shaders/stars_extract.wgsl,
 * stars_fit.wgsl, stars_metrics.wgsl). Everything — frame tiles, per-star buffers, uniforms,
 * bind groups, pipelines — is created once by `create` for a frame size and a list of stars;
 * `run` then uploads, extracts, iterates the fits (one submission per few LM iterations, reading
 * back only the number of stars still active) and reads the per-star words back. Nothing is
 * created inside the fit loop.
 *
 * Frames larger than one storage binding are cut into horizontal bands that overlap by a halo
 * wide enough for every pixel a star can touch (stamp after re-centring, annulus, metric
 * cut-out); each star is measured in the band that owns its starting row. Stars are laid out in
 * slots sorted by band, each band's first slot aligned so that every chunk's binding offsets are
 * legal; a chunk (one dispatch) never spans two bands.
 */
import { createStorageBuffer, createUniformBuffer, ReadbackBuffer, upload } from './buffers.js';
import { dispatchGrid } from './chunks.js';
import type { GpuContext } from './context.js';
import { computePipeline } from './pipelines.js';

/** 32-bit words per star in the info and LM buffers (offsets in the WGSL headers). */
export const STAR_INFO_WORDS = 32;
export const STAR_LM_WORDS = 64;
export const INFO = {
  ix: 0, iy: 1, flags: 2, count: 3, sky: 4, sigma: 5, cx: 6, cy: 7, cxx: 8, cyy: 9, cxy: 10,
  sumFlux: 11, scale: 12, stage: 13, marginalRoundness: 14, marginalAsymmetry: 15, peak: 16,
  peakCoreRatio: 17, laplacianSnr: 18, sharpness: 19, roundness1: 20, roundness2: 21,
} as const;
export const LM = { chi2: 53, iterations: 54, status: 55, pixels: 56, varX: 57, varY: 58 } as const;
/** INFO.stage values. */
export const STAGE_MEASURED = 0;
export const STAGE_NO_BACKGROUND = 1;
export const STAGE_NO_PIXELS = 2;
/** LM status values beyond the FIT_* reasons 0…5. */
export const FIT_STATUS_NONE = 102;

/** The DAOFIND kernel of the frame's FWHM (taken from the CPU workspace, so both paths use one kernel). */
export interface DaoKernel {
  radius: number;
  tapOffset: Int32Array;
  tapWeight: Float64Array;
  mask: Uint8Array;
  marginal: Float64Array;
  wSum: number;
  kSum: number;
  den: number;
}

export interface StarsBatchConfig {
  width: number;
  height: number;
  /** Stamp radius R (4…15). */
  radius: number;
  annulus: boolean;
  /** PSF model 0…3 of the fit, or -1 for windowed moments only. */
  model: -1 | 0 | 1 | 2 | 3;
  saturation: number;
  /** Read-noise floor on the sky σ (ADU), 1/gain (0 without a gain), moment window and fallback σ. */
  rnFloor: number;
  poisson: number;
  sigmaW: number;
  sigma0: number;
  /** Fixed Moffat β (model 2). */
  beta: number;
  dao: DaoKernel;
  /** Upper bound on the bytes of one frame band, below the device's binding limit (tests force bands with it). */
  maxTileBytes?: number;
  /** Most stars per dispatch (tests force chunking with it); rounded down to the slot alignment. */
  maxStarsPerDispatch?: number;
  /** LM iterations per submission of the fit loop (default 8). */
  iterationsPerSubmission?: number;
}

/** Starting pixel and offset of each star to measure (all finite and inside the image). */
export interface StarsBatchInput {
  count: number;
  ix: Int32Array;
  iy: Int32Array;
  fx: Float32Array;
  fy: Float32Array;
}

export interface StarsBatchTimings {
  uploadMs: number;
  extractMs: number;
  fitMs: number;
  metricsMs: number;
  readbackMs: number;
  /** Submissions of the fit loop. */
  fitSubmissions: number;
}

export interface StarsBatchResult {
  /** [count][STAR_INFO_WORDS] and [count][STAR_LM_WORDS], in input order. */
  info: Float32Array;
  lm: Float32Array;
  timings: StarsBatchTimings;
}

export interface StarsRunOptions {
  signal?: AbortSignal;
  /** Stars finished so far (extraction and fits), of `total`. */
  onProgress?: (done: number, total: number) => void;
}

interface Band {
  /** First image row held, rows held, first and end of the rows it owns. */
  rowStart: number;
  rows: number;
  own0: number;
  own1: number;
  buffer: GPUBuffer;
}

interface Chunk {
  band: number;
  slot: number;
  count: number;
  extract: GPUBindGroup;
  fit: GPUBindGroup | undefined;
  metrics: GPUBindGroup;
  grid: { x: number; y: number };
}

const WG = 64;
const EXTRACT_PARAM_BYTES = 96;
const FIT_PARAM_BYTES = 32;
const PARAM_STRIDE = 512;
const MODEL_PARAMS = [6, 7, 5, 6];
const NAN_BITS = 0x7fc00000;
/** The loop counts of measure.ts (moment iterations, stamp re-centrings, shape passes), passed as uniforms. */
const CENTROID_ITERATIONS = 40;
const RECENTRE_MOVES = 4;
const SHAPE_PASSES = 4;
/** Clipping iterations of the annulus sky (annulusBackground). */
const ANNULUS_CLIP_ITERATIONS = 2;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Pixels of the annulus R ≤ r ≤ ceil(1.5R), the sort capacity of the extraction kernel. */
function annulusPixels(R: number, RO: number): number {
  let n = 0;
  for (let dy = -RO; dy <= RO; dy++) for (let dx = -RO; dx <= RO; dx++) {
    const r2 = dx * dx + dy * dy;
    if (r2 >= R * R && r2 <= RO * RO) n++;
  }
  return n;
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('the operation was aborted', 'AbortError');
}

export class StarsGpuBatch {
  readonly config: StarsBatchConfig;
  readonly count: number;
  readonly bands: readonly Band[];
  readonly chunks: readonly Chunk[];
  private readonly ctx: GpuContext;
  private readonly slotOf: Int32Array;
  private readonly slots: number;
  private readonly starIn: GPUBuffer;
  private readonly starInData: ArrayBuffer;
  private readonly info: GPUBuffer;
  private readonly stamps: GPUBuffer;
  private readonly lm: GPUBuffer;
  private readonly active: GPUBuffer;
  private readonly params: GPUBuffer;
  private readonly dao: GPUBuffer;
  private readonly activeReadback: ReadbackBuffer;
  private readonly resultReadback: ReadbackBuffer;
  private readonly pipelines: { extract: GPUComputePipeline; fit: GPUComputePipeline | undefined; metrics: GPUComputePipeline };
  private readonly activeWord = new Uint32Array(1);
  private readonly sortN: number;

  private constructor(
    ctx: GpuContext,
    config: StarsBatchConfig,
    input: StarsBatchInput,
    pipelines: { extract: GPUComputePipeline; fit: GPUComputePipeline | undefined; metrics: GPUComputePipeline },
    sortN: number,
  ) {
    this.ctx = ctx;
    this.sortN = sortN;
    this.config = config;
    this.pipelines = pipelines;
    this.count = input.count;
    const { width: W, height: H, radius: R } = config;
    const lim = ctx.limits;
    const npix = (2 * R + 1) ** 2;
    const fitting = config.model >= 0;
    const RO = Math.ceil(1.5 * R);
    const halo = Math.max(4 * R, 3 * R + RO, 4 * R + 1 + 2 * config.dao.radius) + 1;

    // Bands of whole rows: three planes (pixels, sky, sky σ) per band in one binding.
    const maxBand = Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize, config.maxTileBytes ?? Infinity);
    const rowsFit = Math.floor(maxBand / (12 * W));
    const bands: Band[] = [];
    if (rowsFit >= H) {
      bands.push({ rowStart: 0, rows: H, own0: 0, own1: H, buffer: undefined as unknown as GPUBuffer });
    } else {
      const own = rowsFit - 2 * halo;
      if (own < 1) {
        throw new RangeError(`a ${W}-pixel-wide frame needs bands of at least ${2 * halo + 1} rows (${(2 * halo + 1) * 12 * W} bytes), more than the ${maxBand}-byte binding limit`);
      }
      for (let own0 = 0; own0 < H; own0 += own) {
        const own1 = Math.min(H, own0 + own);
        const rowStart = Math.max(0, own0 - halo);
        bands.push({ rowStart, rows: Math.min(H, own1 + halo) - rowStart, own0, own1, buffer: undefined as unknown as GPUBuffer });
      }
    }
    for (const [b, band] of bands.entries()) band.buffer = createStorageBuffer(ctx, `stars frame band ${b}`, 12 * W * band.rows);
    this.bands = bands;

    // Slots: stars grouped by band, each band's first slot a multiple of the alignment that keeps
    // every per-star binding offset a multiple of minStorageBufferOffsetAlignment.
    const align = lim.minStorageBufferOffsetAlignment;
    const perStar = [16, 4 * STAR_INFO_WORDS, 4 * STAR_LM_WORDS, 8 * npix];
    const slotAlign = Math.max(...perStar.map((b) => align / gcd(align, b)));
    const perBand = new Int32Array(bands.length);
    const bandOf = new Int32Array(input.count);
    const ownerOfRow = (y: number): number => {
      let lo = 0;
      let hi = bands.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if ((bands[mid] as Band).own0 <= y) lo = mid;
        else hi = mid - 1;
      }
      return lo;
    };
    for (let k = 0; k < input.count; k++) {
      const b = ownerOfRow(input.iy[k] as number);
      bandOf[k] = b;
      perBand[b] = (perBand[b] as number) + 1;
    }
    const bandSlot = new Int32Array(bands.length);
    let slots = 0;
    for (let b = 0; b < bands.length; b++) {
      bandSlot[b] = slots;
      slots += Math.ceil((perBand[b] as number) / slotAlign) * slotAlign;
    }
    slots = Math.max(slots, slotAlign);
    this.slots = slots;
    const fill = bandSlot.slice();
    this.slotOf = new Int32Array(input.count);
    for (let k = 0; k < input.count; k++) {
      const b = bandOf[k] as number;
      this.slotOf[k] = fill[b] as number;
      fill[b] = (fill[b] as number) + 1;
    }

    const maxPerBinding = Math.floor(lim.maxStorageBufferBindingSize / Math.max(...perStar));
    let chunkCap = Math.min(maxPerBinding, config.maxStarsPerDispatch ?? Infinity, lim.maxComputeWorkgroupsPerDimension ** 2);
    chunkCap = Math.max(slotAlign, chunkCap - (chunkCap % slotAlign));
    const chunkSpecs: { band: number; slot: number; count: number }[] = [];
    for (let b = 0; b < bands.length; b++) {
      const n = perBand[b] as number;
      for (let s = 0; s < n; s += chunkCap) chunkSpecs.push({ band: b, slot: (bandSlot[b] as number) + s, count: Math.min(chunkCap, n - s) });
    }

    const big = slots * Math.max(...perStar) > lim.maxStorageBufferBindingSize;
    this.starInData = new ArrayBuffer(16 * slots);
    this.starIn = createStorageBuffer(ctx, 'stars input', 16 * slots, { wholeBinding: !big });
    this.info = createStorageBuffer(ctx, 'stars info', 4 * STAR_INFO_WORDS * slots, { wholeBinding: !big });
    this.lm = createStorageBuffer(ctx, 'stars lm', 4 * STAR_LM_WORDS * slots, { wholeBinding: !big });
    this.stamps = createStorageBuffer(ctx, 'stars stamps', fitting ? 8 * npix * slots : 16, { wholeBinding: !big });
    this.active = createStorageBuffer(ctx, 'stars active count', 16);
    this.params = createUniformBuffer(ctx, 'stars params', PARAM_STRIDE * Math.max(chunkSpecs.length, 1));
    this.activeReadback = new ReadbackBuffer(ctx, 'stars active read-back', 16);
    this.resultReadback = new ReadbackBuffer(ctx, 'stars read-back', 4 * (STAR_INFO_WORDS + STAR_LM_WORDS) * slots);

    const d = config.dao;
    const taps = d.tapOffset.length;
    const ks = 2 * d.radius + 1;
    const daoData = new Float32Array(2 * taps + ks * ks + ks + 3);
    for (let t = 0; t < taps; t++) {
      daoData[t] = d.tapOffset[t] as number;
      daoData[taps + t] = d.tapWeight[t] as number;
    }
    for (let k = 0; k < ks * ks; k++) daoData[2 * taps + k] = d.mask[k] as number;
    for (let u = 0; u < ks; u++) daoData[2 * taps + ks * ks + u] = d.marginal[u] as number;
    daoData[2 * taps + ks * ks + ks] = d.wSum;
    daoData[2 * taps + ks * ks + ks + 1] = d.kSum;
    daoData[2 * taps + ks * ks + ks + 2] = d.den;
    this.dao = createStorageBuffer(ctx, 'stars DAOFIND kernel', daoData.byteLength);
    upload(ctx, this.dao, daoData);

    const maxDim = lim.maxComputeWorkgroupsPerDimension;
    const paramData = new ArrayBuffer(PARAM_STRIDE * Math.max(chunkSpecs.length, 1));
    const device = ctx.device;
    const range = (buffer: GPUBuffer, slot: number, count: number, bytes: number): GPUBufferBinding => ({ buffer, offset: slot * bytes, size: count * bytes });
    this.chunks = chunkSpecs.map((c, i) => {
      const band = bands[c.band] as Band;
      const grid = dispatchGrid(c.count, maxDim);
      const u = new Uint32Array(paramData, i * PARAM_STRIDE, EXTRACT_PARAM_BYTES / 4);
      const f = new Float32Array(paramData, i * PARAM_STRIDE, EXTRACT_PARAM_BYTES / 4);
      const i32 = new Int32Array(paramData, i * PARAM_STRIDE, EXTRACT_PARAM_BYTES / 4);
      u[0] = W;
      u[1] = H;
      i32[2] = band.rowStart;
      u[3] = band.rows;
      u[4] = band.rows * W;
      u[5] = c.count;
      u[6] = grid.x;
      u[7] = config.annulus ? 1 : 0;
      const hasSat = Number.isFinite(config.saturation);
      f[8] = hasSat ? config.saturation : 0;
      u[9] = hasSat ? 1 : 0;
      f[10] = config.rnFloor;
      f[11] = config.poisson;
      f[12] = config.sigmaW;
      f[13] = config.sigma0;
      u[14] = fitting ? 1 : 0;
      f[15] = Number.isFinite(config.beta) ? config.beta : 0;
      u[16] = NAN_BITS;
      u[17] = Math.max(config.model, 0);
      u[18] = WG / 2;
      u[19] = CENTROID_ITERATIONS;
      u[20] = RECENTRE_MOVES;
      u[21] = SHAPE_PASSES;
      u[22] = this.sortN;
      u[23] = ANNULUS_CLIP_ITERATIONS;
      const fu = new Uint32Array(paramData, i * PARAM_STRIDE + 256, FIT_PARAM_BYTES / 4);
      const ff = new Float32Array(paramData, i * PARAM_STRIDE + 256, FIT_PARAM_BYTES / 4);
      fu[0] = c.count;
      fu[1] = grid.x;
      ff[2] = Number.isFinite(config.beta) ? config.beta : 0;
      fu[3] = config.iterationsPerSubmission ?? 8;
      fu[4] = NAN_BITS;
      fu[5] = WG / 2;
      const extractParams: GPUBufferBinding = { buffer: this.params, offset: i * PARAM_STRIDE, size: EXTRACT_PARAM_BYTES };
      const stampsBinding = fitting ? range(this.stamps, c.slot, c.count, 8 * npix) : { buffer: this.stamps };
      const extract = device.createBindGroup({
        label: `stars extract chunk ${i}`,
        layout: pipelines.extract.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: extractParams },
          { binding: 1, resource: { buffer: band.buffer } },
          { binding: 2, resource: range(this.starIn, c.slot, c.count, 16) },
          { binding: 3, resource: range(this.info, c.slot, c.count, 4 * STAR_INFO_WORDS) },
          { binding: 4, resource: stampsBinding },
          { binding: 5, resource: range(this.lm, c.slot, c.count, 4 * STAR_LM_WORDS) },
        ],
      });
      const fit = pipelines.fit
        ? device.createBindGroup({
            label: `stars fit chunk ${i}`,
            layout: pipelines.fit.getBindGroupLayout(0),
            entries: [
              { binding: 0, resource: { buffer: this.params, offset: i * PARAM_STRIDE + 256, size: FIT_PARAM_BYTES } },
              { binding: 1, resource: stampsBinding },
              { binding: 2, resource: range(this.lm, c.slot, c.count, 4 * STAR_LM_WORDS) },
              { binding: 3, resource: { buffer: this.active } },
            ],
          })
        : undefined;
      const metrics = device.createBindGroup({
        label: `stars metrics chunk ${i}`,
        layout: pipelines.metrics.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: extractParams },
          { binding: 1, resource: { buffer: band.buffer } },
          { binding: 2, resource: range(this.info, c.slot, c.count, 4 * STAR_INFO_WORDS) },
          { binding: 3, resource: range(this.lm, c.slot, c.count, 4 * STAR_LM_WORDS) },
          { binding: 4, resource: { buffer: this.dao } },
        ],
      });
      return { ...c, extract, fit, metrics, grid };
    });
    upload(ctx, this.params, new Uint8Array(paramData));

    const inI = new Int32Array(this.starInData);
    const inF = new Float32Array(this.starInData);
    for (let k = 0; k < input.count; k++) {
      const s = 4 * (this.slotOf[k] as number);
      inI[s] = input.ix[k] as number;
      inI[s + 1] = input.iy[k] as number;
      inF[s + 2] = input.fx[k] as number;
      inF[s + 3] = input.fy[k] as number;
    }
  }

  /** Pipelines, buffers and bind groups for one frame of `config` and its stars. */
  static async create(ctx: GpuContext, config: StarsBatchConfig, input: StarsBatchInput): Promise<StarsGpuBatch> {
    const R = config.radius;
    if (!(Number.isInteger(R) && R >= 4 && R <= 15)) throw new RangeError(`stamp radius must be an integer in 4…15, got ${R}`);
    const RO = Math.ceil(1.5 * R);
    const sortN = config.annulus ? 2 ** Math.ceil(Math.log2(annulusPixels(R, RO))) : 2;
    const model = Math.max(config.model, 0);
    const extract = await computePipeline(ctx, 'stars_extract', 'extract', { R, RO, SORT_N: sortN, WG });
    const fit = config.model >= 0 ? await computePipeline(ctx, 'stars_fit', 'iterate', { MODEL: model, NP: MODEL_PARAMS[model] as number, R, WG }) : undefined;
    const metrics = await computePipeline(ctx, 'stars_metrics', 'metrics', { R, KR: config.dao.radius, TAPS: config.dao.tapOffset.length, WG });
    return new StarsGpuBatch(ctx, config, input, { extract, fit, metrics }, sortN);
  }

  /** Uploads the frame and its sky maps into the bands (once per frame). */
  uploadFrame(data: Float32Array, background: Float32Array, noise: Float32Array): void {
    const W = this.config.width;
    // Dawn's writeBuffer takes no SharedArrayBuffer (a frame shared with CPU workers): such
    // planes go through one reused staging array, a few MiB at a time.
    let staging: Float32Array | undefined;
    const put = (buffer: GPUBuffer, plane: Float32Array, byteOffset: number): void => {
      if (!(plane.buffer instanceof SharedArrayBuffer)) {
        upload(this.ctx, buffer, plane, byteOffset);
        return;
      }
      staging ??= new Float32Array(1 << 22);
      for (let i = 0; i < plane.length; i += staging.length) {
        const part = plane.subarray(i, Math.min(plane.length, i + staging.length));
        staging.set(part);
        upload(this.ctx, buffer, staging.subarray(0, part.length), byteOffset + 4 * i);
      }
    };
    for (const band of this.bands) {
      const a = band.rowStart * W;
      const b = (band.rowStart + band.rows) * W;
      const plane = 4 * band.rows * W;
      put(band.buffer, data.subarray(a, b), 0);
      put(band.buffer, background.subarray(a, b), plane);
      put(band.buffer, noise.subarray(a, b), 2 * plane);
    }
  }

  private pass(encoder: GPUCommandEncoder, kind: 'extract' | 'fit' | 'metrics'): void {
    const pass = encoder.beginComputePass();
    const pipeline = this.pipelines[kind];
    if (pipeline) {
      pass.setPipeline(pipeline);
      for (const c of this.chunks) {
        const group = c[kind];
        if (!group) continue;
        pass.setBindGroup(0, group);
        pass.dispatchWorkgroups(c.grid.x, c.grid.y);
      }
    }
    pass.end();
  }

  private async waitIdle(): Promise<void> {
    await this.ctx.device.queue.onSubmittedWorkDone();
    await this.ctx.settle();
  }

  /**
   * Measures the stars on the uploaded frame: extraction, the fit loop, metrics, read-back.
   * Rejects with the signal's reason when aborted (checked between submissions).
   */
  async run(options: StarsRunOptions = {}): Promise<StarsBatchResult> {
    const { signal, onProgress } = options;
    const check = (): void => {
      if (signal?.aborted) throw abortError(signal);
    };
    const t0 = performance.now();
    check();
    upload(this.ctx, this.starIn, new Uint8Array(this.starInData));
    await this.waitIdle();
    const t1 = performance.now();
    check();
    this.ctx.submit((enc) => this.pass(enc, 'extract'));
    await this.waitIdle();
    const t2 = performance.now();
    let submissions = 0;
    if (this.pipelines.fit) {
      const perSubmission = this.config.iterationsPerSubmission ?? 8;
      // One submission more than the iteration cap needs: the first also evaluates the start.
      const maxSubmissions = Math.ceil(100 / perSubmission) + 1;
      for (; submissions < maxSubmissions; ) {
        check();
        this.ctx.submit((enc) => {
          enc.clearBuffer(this.active);
          this.pass(enc, 'fit');
          this.activeReadback.copyFrom(enc, this.active, 4);
        });
        submissions++;
        await this.activeReadback.read(this.activeWord);
        const active = this.activeWord[0] as number;
        onProgress?.(this.count - active, this.count);
        if (active === 0) break;
      }
    }
    const t3 = performance.now();
    check();
    this.ctx.submit((enc) => this.pass(enc, 'metrics'));
    await this.waitIdle();
    const t4 = performance.now();
    const infoBytes = 4 * STAR_INFO_WORDS * this.slots;
    const lmBytes = 4 * STAR_LM_WORDS * this.slots;
    this.ctx.submit((enc) => {
      this.resultReadback.copyFrom(enc, this.info, infoBytes, 0, 0);
      this.resultReadback.copyFrom(enc, this.lm, lmBytes, 0, infoBytes);
    });
    const all = new Float32Array((infoBytes + lmBytes) / 4);
    await this.resultReadback.read(all);
    const info = new Float32Array(this.count * STAR_INFO_WORDS);
    const lm = new Float32Array(this.count * STAR_LM_WORDS);
    const lmBase = infoBytes / 4;
    for (let k = 0; k < this.count; k++) {
      const s = this.slotOf[k] as number;
      info.set(all.subarray(s * STAR_INFO_WORDS, (s + 1) * STAR_INFO_WORDS), k * STAR_INFO_WORDS);
      lm.set(all.subarray(lmBase + s * STAR_LM_WORDS, lmBase + (s + 1) * STAR_LM_WORDS), k * STAR_LM_WORDS);
    }
    const t5 = performance.now();
    if (!this.pipelines.fit) onProgress?.(this.count, this.count);
    return {
      info,
      lm,
      timings: { uploadMs: t1 - t0, extractMs: t2 - t1, fitMs: t3 - t2, metricsMs: t4 - t3, readbackMs: t5 - t4, fitSubmissions: submissions },
    };
  }

  destroy(): void {
    for (const b of this.bands) b.buffer.destroy();
    for (const b of [this.starIn, this.info, this.stamps, this.lm, this.active, this.params, this.dao]) b.destroy();
    this.activeReadback.destroy();
    this.resultReadback.destroy();
  }
}
