/**
 * The GPU side of measuring a list of stars on a frame held by a GpuStarFrame (shaders
 * stars_extract.wgsl, stars_fit.wgsl, stars_metrics.wgsl). Pipelines, per-star buffers, the
 * read-back buffer and bind groups are made once and kept with the frame for its configuration
 * (stamp radius, model, options); a later list reuses them, growing them only when it is longer.
 *
 * One call is a few submissions, each waited on once (the LM outer loop): the first uploads the
 * positions, extracts every stamp and runs the first LM trials; each further one runs more
 * trials for the stars still active. Every submission also runs the metrics kernel for the
 * stars whose fit has just ended — which writes their catalogue rows, in input order — and
 * copies the count of active stars and the catalogue into one read-back buffer. When the count
 * is zero the catalogue read is the call's answer: nothing is reordered or assembled on the
 * host. Iterations per submission grow (8, 24, then the rest of the 100-iteration cap), so a
 * call makes at most three round trips whatever the stars.
 *
 * Stars are laid out in slots grouped by the band of the frame that owns their starting row,
 * each band's first slot aligned so every chunk's binding offsets are legal; a chunk (one
 * dispatch) never spans two bands. `order` maps slots back to input indices.
 */
import { BufferUsage, createStorageBuffer, ReadbackBuffer, upload } from './buffers.js';
import { dispatchGrid } from './chunks.js';
import { GpuDeviceError, type GpuContext } from './context.js';
import { computePipeline } from './pipelines.js';
import { starsFitPipeline } from './starsFit.js';
import type { FrameAttachment, FrameBand, GpuStarFrame } from './starsFrame.js';
import { haloRows, MAX_HALO } from './starsFrame.js';

/** 32-bit words per slot in the info and LM buffers (offsets in the WGSL headers). */
export const STAR_INFO_WORDS = 32;
export const STAR_LM_WORDS = 80;
/**
 * Planes of the catalogue the metrics kernel writes (CAT_* in stars_metrics.wgsl): the 22
 * float fields of STAR_FLOAT_FIELDS, the centre offsets cx, cy (float32), the start pixel ix,
 * iy (int32), then iterations, method, fitReason, status and flags (uint32).
 */
export const CAT_FLOAT_PLANES = 22;
export const CAT_CX = 22;
export const CAT_CY = 23;
export const CAT_IX = 24;
export const CAT_IY = 25;
export const CAT_INT_PLANES = 26;
export const CAT_PLANES = 31;
/** starIn x bits of a position that cannot be measured (its FLAG_* bit goes in the y word). */
export const POSITION_REJECTED = 0x80000000;

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
  /** Stamp radius R (4…15). */
  radius: number;
  annulus: boolean;
  /** Fit the sky slope with the PSF (MeasureOptions.skySlope 'fit'). */
  slope: boolean;
  /** PSF model 0…3 of the fit, or -1 for windowed moments only. */
  model: -1 | 0 | 1 | 2 | 3;
  /** MEASURE_METHODS code of the method asked for. */
  method: number;
  /** Expected FWHM (the SNR aperture of a star without a measured one). */
  fwhm: number;
  saturation: number;
  /** Read-noise floor on the sky σ (ADU), 1/gain (0 without a gain), moment window and fallback σ. */
  rnFloor: number;
  poisson: number;
  sigmaW: number;
  sigma0: number;
  /** Fixed Moffat β (model 2). */
  beta: number;
  dao: DaoKernel;
  /** Most stars per dispatch (tests force chunking with it); rounded down to the slot alignment. */
  maxStarsPerDispatch?: number;
  /** LM iterations per submission of the fit loop (default: 8, 24, then the rest of the cap). */
  iterationsPerSubmission?: number;
}

/** One call's stars, in input order. */
export interface StarsRunInput {
  count: number;
  /** 16 bytes per star (from byte 0): ix, iy (int32), fx, fy (float32); rejected positions as POSITION_REJECTED, flag. */
  starIn: ArrayBuffer;
  /** Band of each star, from index 0 (null: all in band 0). */
  bandOf: Int32Array | null;
  /**
   * Where to copy the catalogue (at least CAT_PLANES·4·count bytes), instead of a new buffer:
   * memory the caller recycles, whose pages are already mapped (the first touch of fresh pages
   * costs more than the copy itself).
   */
  target?: ArrayBuffer;
}

/** Where one GPU call's time went (ms unless said otherwise), for benchmarks. */
export interface StarsBatchTimings {
  /** Host: writing positions, slots and uniforms, encoding and submitting. */
  uploadMs: number;
  /** Wall time from the first submission to the catalogue being readable. */
  loopMs: number;
  /** Host: copying the catalogue out of the read-back mapping. */
  readbackMs: number;
  /** Submissions, each waited on once (round trips). */
  submissions: number;
  /** GPU time of all passes from timestamp queries (NaN without them). */
  gpuMs: number;
  /** Chunks (one dispatch of each kernel) the call's stars were cut into: per band, at most the per-dispatch limit each. */
  chunks: number;
  /** Frame bands that held at least one of the call's stars. */
  bands: number;
}

export interface StarsRunResult {
  /** CAT_PLANES planes of `count` 32-bit words (a copy the caller owns: `target` when given). */
  catalogue: ArrayBuffer;
  timings: StarsBatchTimings;
}

export interface StarsRunOptions {
  signal?: AbortSignal;
  /** Stars finished so far, of `total`, after each submission. */
  onProgress?: (done: number, total: number) => void;
}

interface Chunk {
  band: number;
  slot: number;
  count: number;
  grid: { x: number; y: number };
  extract: GPUBindGroup;
  fit: GPUBindGroup | undefined;
  metrics: GPUBindGroup;
}

interface Pipelines {
  extract: GPUComputePipeline;
  fit: GPUComputePipeline | undefined;
  metrics: GPUComputePipeline;
}

/** Per-slot and per-star buffers for up to `slots` slots and `stars` stars. */
interface StarBuffers {
  slots: number;
  stars: number;
  starIn: GPUBuffer;
  order: GPUBuffer;
  info: GPUBuffer;
  lm: GPUBuffer;
  stamps: GPUBuffer;
  catalogue: GPUBuffer;
  readback: ReadbackBuffer;
}

const WG = 64;
const EXTRACT_PARAM_BYTES = 144;
const FIT_PARAM_OFFSET = 256;
const FIT_PARAM_BYTES = 32;
const PARAM_STRIDE = 512;
const NAN_BITS = 0x7fc00000;
/** The loop counts of measure.ts (moment iterations, stamp re-centrings, shape passes), passed as uniforms. */
const CENTROID_ITERATIONS = 40;
const RECENTRE_MOVES = 4;
const SHAPE_PASSES = 4;
/** Fits of the annulus sky plane: PLANE_ITERATIONS of src/stars/localSky.ts (a uniform, as the other loop bounds, see Params). */
const ANNULUS_PLANE_ITERATIONS = 5;
/** The fit kernel's iteration cap (MAX_ITERATIONS in stars_fit.wgsl). */
const MAX_ITERATIONS = 100;
/** Default LM iterations of each submission: most stars end in the first, all by the third. */
const ITERATION_SCHEDULE = [8, 24, MAX_ITERATIONS - 32];
/** Submissions whose passes are timed (more happen only with a small iterationsPerSubmission). */
const TIMED_SUBMISSIONS = 16;
/**
 * While a mapping is pending, Dawn's Node binding polls the device from the JS thread, and the
 * polling's garbage (≈ 150 MB/s on lavapipe) keeps V8's collector busy: ~30 collections during
 * a 1.5 s wait. So the thread first sleeps through SLEEP_FRACTION of the time the same
 * submission is expected to take — the previous call's time for it (GPU time from the
 * timestamps where the device has them, else wall time), scaled down to fewer stars but never
 * up (a small call's time per star includes fixed costs) — and then probes the mapping
 * (ReadbackBuffer.mapAfter).
 */
const SLEEP_FRACTION = 0.95;
/** Read-back layout: the active count, the pass timestamps, then the catalogue. */
const TIMESTAMP_OFFSET = 16;
const CATALOGUE_OFFSET = TIMESTAMP_OFFSET + 16 * TIMED_SUBMISSIONS;

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

/** The uniform buffer of `chunks` chunks; each binds its extraction/metrics and fit parameters at PARAM_STRIDE. */
function createParams(ctx: GpuContext, chunks: number): GPUBuffer {
  return ctx.device.createBuffer({ label: 'stars params', size: PARAM_STRIDE * Math.max(chunks, 1), usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST });
}

// The per-star loops of a call live in small functions of their own: V8 optimizes those
// reliably, where a loop inside the large async `run` stayed in slower code from call to call.

function countBands(bandOf: Int32Array, n: number, perBand: Int32Array): void {
  for (let k = 0; k < n; k++) {
    const b = bandOf[k] as number;
    perBand[b] = (perBand[b] as number) + 1;
  }
}

/** Slot → input index: stars in input order within each band, bands from their first slot. */
function fillOrder(order: Uint32Array, bandOf: Int32Array | null, n: number, bandSlot: Int32Array): void {
  if (bandOf === null) {
    for (let k = 0; k < n; k++) order[k] = k;
    return;
  }
  const fill = bandSlot.slice();
  for (let k = 0; k < n; k++) {
    const b = bandOf[k] as number;
    order[fill[b] as number] = k;
    fill[b] = (fill[b] as number) + 1;
  }
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('the operation was aborted', 'AbortError');
}

/** Most stars one call can take on this device: the catalogue and positions are bound whole. */
export function maxStarsPerRun(ctx: GpuContext): number {
  return Math.floor(Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize) / (4 * CAT_PLANES));
}

export class StarsGpuBatch implements FrameAttachment {
  readonly config: StarsBatchConfig;
  private readonly frame: GpuStarFrame;
  private readonly ctx: GpuContext;
  private readonly pipelines: Pipelines;
  private readonly sortN: number;
  private readonly npix: number;
  private readonly slotAlign: number;
  private readonly chunkCap: number;
  private params: GPUBuffer;
  private readonly dao: GPUBuffer;
  private readonly active: GPUBuffer;
  private readonly timer: { querySet: GPUQuerySet; resolve: GPUBuffer } | undefined;
  private buffers: StarBuffers | undefined;
  private chunks: Chunk[] = [];
  private chunkKey = '';
  private order = new Uint32Array(0);
  private paramData = new ArrayBuffer(0);
  private readonly perBand: Int32Array;
  private readonly bandFill: Int32Array;
  /** Each submission of the last call: its time (ms) and the stars active at its start (see SLEEP_FRACTION). */
  private readonly lastMs: number[] = [];
  private readonly lastStars: number[] = [];
  private stagingIn = new ArrayBuffer(0);
  private stagingBands = new Int32Array(0);
  private destroyed = false;

  private constructor(frame: GpuStarFrame, config: StarsBatchConfig, pipelines: Pipelines, sortN: number) {
    this.frame = frame;
    this.ctx = frame.ctx;
    this.config = config;
    this.pipelines = pipelines;
    this.sortN = sortN;
    const ctx = this.ctx;
    const lim = ctx.limits;
    const R = config.radius;
    this.npix = (2 * R + 1) ** 2;
    const align = lim.minStorageBufferOffsetAlignment;
    const perSlot = this.perSlotBytes();
    this.slotAlign = Math.max(...perSlot.map((b) => align / gcd(align, b)));
    const maxPerBinding = Math.floor(lim.maxStorageBufferBindingSize / Math.max(...perSlot));
    let cap = Math.min(maxPerBinding, config.maxStarsPerDispatch ?? Infinity, lim.maxComputeWorkgroupsPerDimension ** 2);
    this.chunkCap = Math.max(this.slotAlign, cap - (cap % this.slotAlign));
    this.perBand = new Int32Array(frame.bands.length);
    this.bandFill = new Int32Array(frame.bands.length);
    // Uniforms of one chunk per band to start with; grown when a call needs more chunks.
    this.params = createParams(ctx, frame.bands.length);

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
    this.active = createStorageBuffer(ctx, 'stars active count', 16);
    this.timer = ctx.hasTimestamps
      ? {
          querySet: ctx.device.createQuerySet({ type: 'timestamp', count: 2 * TIMED_SUBMISSIONS }),
          resolve: ctx.device.createBuffer({ label: 'stars timestamps', size: 16 * TIMED_SUBMISSIONS, usage: BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC }),
        }
      : undefined;
  }

  /** Pipelines and fixed buffers for measuring stars of `config` on `frame`. */
  static async create(frame: GpuStarFrame, config: StarsBatchConfig): Promise<StarsGpuBatch> {
    const R = config.radius;
    if (!(Number.isInteger(R) && R >= 4 && R <= 15)) throw new RangeError(`stamp radius must be an integer in 4…15, got ${R}`);
    if (haloRows(R, config.dao.radius) > MAX_HALO) throw new RangeError(`a DAOFIND kernel radius of ${config.dao.radius} reaches beyond the frame bands' halo`);
    const ctx = frame.ctx;
    const RO = Math.ceil(1.5 * R);
    const sortN = config.annulus ? 2 ** Math.ceil(Math.log2(annulusPixels(R, RO))) : 2;
    const model = Math.max(config.model, 0);
    const [extract, fit, metrics] = await Promise.all([
      computePipeline(ctx, 'stars_extract', 'extract', { R, RO, SORT_N: sortN, WG }),
      config.model === -1 ? Promise.resolve(undefined) : starsFitPipeline(ctx, { model: config.model, slope: config.slope, R, wg: WG }),
      computePipeline(ctx, 'stars_metrics', 'metrics', { R, KR: config.dao.radius, TAPS: config.dao.tapOffset.length, WG }),
    ]);
    return new StarsGpuBatch(frame, config, { extract, fit, metrics }, sortN);
  }

  /** Bytes per slot of each buffer bound in ranges: info, lm, stamps. */
  private perSlotBytes(): number[] {
    return [4 * STAR_INFO_WORDS, 4 * STAR_LM_WORDS, this.config.model >= 0 ? 8 * this.npix : 4];
  }

  /**
   * Host arrays for a call's `starIn` words and band indices, reused from call to call (fresh
   * arrays cost their zeroing and page faults every call); valid until the next `run`.
   */
  staging(stars: number): { starIn: ArrayBuffer; bandOf: Int32Array } {
    if (this.stagingIn.byteLength < 16 * stars) {
      this.stagingIn = new ArrayBuffer(16 * stars);
      this.stagingBands = new Int32Array(this.frame.bands.length > 1 ? stars : 0);
    }
    return { starIn: this.stagingIn, bandOf: this.stagingBands };
  }

  /** Buffers for at least `slots` slots and `stars` stars (grown by a quarter beyond, to spare regrowth). */
  private ensureBuffers(slots: number, stars: number): StarBuffers {
    const b = this.buffers;
    if (b && b.slots >= slots && b.stars >= stars) return b;
    this.releaseBuffers();
    const ctx = this.ctx;
    const grow = (need: number, had: number, align: number): number => Math.ceil(Math.max(need, had > 0 ? Math.ceil(1.25 * had) : 0) / align) * align;
    const S = Math.max(grow(slots, b?.slots ?? 0, this.slotAlign), this.slotAlign);
    const N = Math.max(grow(stars, b?.stars ?? 0, 1), 1);
    const [infoB, lmB, stampB] = this.perSlotBytes() as [number, number, number];
    const big = (bytes: number): boolean => bytes > ctx.limits.maxStorageBufferBindingSize;
    const catBytes = 4 * CAT_PLANES * N;
    const fresh: StarBuffers = {
      slots: S,
      stars: N,
      starIn: createStorageBuffer(ctx, 'stars input', 16 * N),
      order: createStorageBuffer(ctx, 'stars slot order', 4 * S),
      info: createStorageBuffer(ctx, 'stars info', infoB * S, { wholeBinding: !big(infoB * S) }),
      lm: createStorageBuffer(ctx, 'stars lm', lmB * S, { wholeBinding: !big(lmB * S) }),
      stamps: createStorageBuffer(ctx, 'stars stamps', this.config.model >= 0 ? stampB * S : 16, { wholeBinding: !big(stampB * S) }),
      catalogue: createStorageBuffer(ctx, 'stars catalogue', catBytes),
      readback: new ReadbackBuffer(ctx, 'stars read-back', CATALOGUE_OFFSET + catBytes),
    };
    this.buffers = fresh;
    this.order = new Uint32Array(S);
    this.chunkKey = '';
    return fresh;
  }

  private releaseBuffers(): void {
    const b = this.buffers;
    if (!b) return;
    for (const buf of [b.starIn, b.order, b.info, b.lm, b.stamps, b.catalogue]) buf.destroy();
    b.readback.destroy();
    this.buffers = undefined;
  }

  /** Chunks (and their bind groups) for this call's stars per band; reused while the layout is unchanged. */
  private layoutChunks(buffers: StarBuffers, bandSlot: Int32Array): Chunk[] {
    const specs: { band: number; slot: number; count: number }[] = [];
    for (let b = 0; b < this.perBand.length; b++) {
      const n = this.perBand[b] as number;
      for (let s = 0; s < n; s += this.chunkCap) specs.push({ band: b, slot: (bandSlot[b] as number) + s, count: Math.min(this.chunkCap, n - s) });
    }
    const key = specs.map((c) => `${c.band}:${c.slot}:${c.count}`).join(',');
    if (key === this.chunkKey) return this.chunks;
    if (specs.length * PARAM_STRIDE > this.params.size) {
      this.params.destroy();
      this.params = createParams(this.ctx, specs.length);
    }
    const device = this.ctx.device;
    const npix = this.npix;
    const fitting = this.config.model >= 0;
    const maxDim = this.ctx.limits.maxComputeWorkgroupsPerDimension;
    const range = (buffer: GPUBuffer, slot: number, count: number, bytes: number): GPUBufferBinding => ({ buffer, offset: slot * bytes, size: count * bytes });
    this.chunks = specs.map((c, i) => {
      const band = this.frame.bands[c.band] as FrameBand;
      const extractParams: GPUBufferBinding = { buffer: this.params, offset: i * PARAM_STRIDE, size: EXTRACT_PARAM_BYTES };
      const stamps = fitting ? range(buffers.stamps, c.slot, c.count, 8 * npix) : { buffer: buffers.stamps };
      const info = range(buffers.info, c.slot, c.count, 4 * STAR_INFO_WORDS);
      const lm = range(buffers.lm, c.slot, c.count, 4 * STAR_LM_WORDS);
      const order = { buffer: buffers.order };
      const extract = device.createBindGroup({
        label: `stars extract chunk ${i}`,
        layout: this.pipelines.extract.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: extractParams },
          { binding: 1, resource: { buffer: band.buffer } },
          { binding: 2, resource: { buffer: buffers.starIn } },
          { binding: 3, resource: info },
          { binding: 4, resource: stamps },
          { binding: 5, resource: lm },
          { binding: 6, resource: order },
          { binding: 7, resource: { buffer: this.frame.grid } },
        ],
      });
      const fit = this.pipelines.fit
        ? device.createBindGroup({
            label: `stars fit chunk ${i}`,
            layout: this.pipelines.fit.getBindGroupLayout(0),
            entries: [
              { binding: 0, resource: { buffer: this.params, offset: i * PARAM_STRIDE + FIT_PARAM_OFFSET, size: FIT_PARAM_BYTES } },
              { binding: 1, resource: stamps },
              { binding: 2, resource: lm },
              { binding: 3, resource: { buffer: this.active } },
            ],
          })
        : undefined;
      const metrics = device.createBindGroup({
        label: `stars metrics chunk ${i}`,
        layout: this.pipelines.metrics.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: extractParams },
          { binding: 1, resource: { buffer: band.buffer } },
          { binding: 2, resource: info },
          { binding: 3, resource: lm },
          { binding: 4, resource: { buffer: this.dao } },
          { binding: 5, resource: order },
          { binding: 6, resource: { buffer: buffers.catalogue } },
        ],
      });
      return { ...c, grid: dispatchGrid(c.count, maxDim), extract, fit, metrics };
    });
    this.chunkKey = key;
    if (this.paramData.byteLength < PARAM_STRIDE * this.chunks.length) this.paramData = new ArrayBuffer(PARAM_STRIDE * this.chunks.length);
    return this.chunks;
  }

  /** The uniforms of every chunk for a call of `stars` stars (iterations of the first submission). */
  private writeParams(stars: number, iterations: number): void {
    const { config, frame } = this;
    const W = frame.width;
    const fitting = config.model >= 0;
    const hasSat = Number.isFinite(config.saturation);
    const data = this.paramData;
    for (const [i, c] of this.chunks.entries()) {
      const band = frame.bands[c.band] as FrameBand;
      const u = new Uint32Array(data, i * PARAM_STRIDE, EXTRACT_PARAM_BYTES / 4);
      const f = new Float32Array(data, i * PARAM_STRIDE, EXTRACT_PARAM_BYTES / 4);
      const i32 = new Int32Array(data, i * PARAM_STRIDE, EXTRACT_PARAM_BYTES / 4);
      u[0] = W;
      u[1] = frame.height;
      i32[2] = band.rowStart;
      u[3] = band.rows;
      u[4] = band.rows * W;
      u[5] = c.count;
      u[6] = c.grid.x;
      u[7] = config.annulus ? 1 : 0;
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
      u[23] = ANNULUS_PLANE_ITERATIONS;
      u[24] = frame.planes === 3 ? 1 : 0;
      u[25] = Math.max(frame.gridNx, 1);
      u[26] = Math.max(frame.gridNy, 1);
      f[27] = W / Math.max(frame.gridNx, 1);
      f[28] = frame.height / Math.max(frame.gridNy, 1);
      u[29] = stars;
      f[30] = config.fwhm;
      u[31] = config.method;
      u[32] = c.slot;
      u[33] = fitting && config.slope ? 1 : 0;
      const fu = new Uint32Array(data, i * PARAM_STRIDE + FIT_PARAM_OFFSET, FIT_PARAM_BYTES / 4);
      const ff = new Float32Array(data, i * PARAM_STRIDE + FIT_PARAM_OFFSET, FIT_PARAM_BYTES / 4);
      fu[0] = c.count;
      fu[1] = c.grid.x;
      ff[2] = Number.isFinite(config.beta) ? config.beta : 0;
      fu[3] = iterations;
      fu[4] = NAN_BITS;
      fu[5] = WG / 2;
    }
    upload(this.ctx, this.params, new Uint8Array(data, 0, PARAM_STRIDE * this.chunks.length));
  }

  /** Sets the fit iterations of the next submission in every chunk's uniform. */
  private writeIterations(iterations: number): void {
    const word = new Uint32Array([iterations]);
    for (let i = 0; i < this.chunks.length; i++) upload(this.ctx, this.params, word, i * PARAM_STRIDE + FIT_PARAM_OFFSET + 12);
  }

  private encode(encoder: GPUCommandEncoder, buffers: StarBuffers, stars: number, extract: boolean, submission: number): void {
    const timed = this.timer !== undefined && submission < TIMED_SUBMISSIONS;
    if (this.pipelines.fit) encoder.clearBuffer(this.active);
    const pass = encoder.beginComputePass(
      timed ? { timestampWrites: { querySet: this.timer!.querySet, beginningOfPassWriteIndex: 2 * submission, endOfPassWriteIndex: 2 * submission + 1 } } : {},
    );
    const run = (pipeline: GPUComputePipeline | undefined, kind: 'extract' | 'fit' | 'metrics'): void => {
      if (!pipeline) return;
      pass.setPipeline(pipeline);
      for (const c of this.chunks) {
        pass.setBindGroup(0, c[kind] as GPUBindGroup);
        pass.dispatchWorkgroups(c.grid.x, c.grid.y);
      }
    };
    if (extract) run(this.pipelines.extract, 'extract');
    run(this.pipelines.fit, 'fit');
    run(this.pipelines.metrics, 'metrics');
    pass.end();
    const rb = buffers.readback;
    if (this.pipelines.fit) rb.copyFrom(encoder, this.active, 4, 0, 0);
    if (timed) {
      encoder.resolveQuerySet(this.timer!.querySet, 0, 2 * (submission + 1), this.timer!.resolve, 0);
      rb.copyFrom(encoder, this.timer!.resolve, 16 * (submission + 1), 0, TIMESTAMP_OFFSET);
    }
    rb.copyFrom(encoder, buffers.catalogue, 4 * CAT_PLANES * stars, 0, CATALOGUE_OFFSET);
  }

  /**
   * Measures one call's stars on the frame's current contents: the catalogue planes (stride
   * `count`) as the kernels wrote them. Rejects with the signal's reason when aborted (checked
   * between submissions).
   */
  async run(input: StarsRunInput, options: StarsRunOptions = {}): Promise<StarsRunResult> {
    if (this.destroyed || this.frame.isDestroyed) throw new Error('this GPU star batch (or its frame) was destroyed');
    const { signal, onProgress } = options;
    const n = input.count;
    const t0 = performance.now();
    signal?.throwIfAborted();
    // Slots grouped by band (a counting sort), each band's first slot aligned.
    const bands = this.frame.bands.length;
    const perBand = this.perBand;
    perBand.fill(0);
    const bandOf = input.bandOf;
    if (bandOf === null) perBand[0] = n;
    else countBands(bandOf, n, perBand);
    const bandSlot = this.bandFill;
    let slots = 0;
    for (let b = 0; b < bands; b++) {
      bandSlot[b] = slots;
      slots += Math.ceil((perBand[b] as number) / this.slotAlign) * this.slotAlign;
    }
    const buffers = this.ensureBuffers(Math.max(slots, this.slotAlign), n);
    fillOrder(this.order, bandOf, n, bandSlot);
    this.layoutChunks(buffers, bandSlot);
    const schedule = this.config.iterationsPerSubmission === undefined ? ITERATION_SCHEDULE : [this.config.iterationsPerSubmission];
    // One more submission than the cap needs when a constant count is forced: the first also evaluates the start.
    const maxSubmissions = this.config.iterationsPerSubmission === undefined ? ITERATION_SCHEDULE.length : Math.ceil(MAX_ITERATIONS / this.config.iterationsPerSubmission) + 1;
    this.writeParams(n, schedule[0] as number);
    upload(this.ctx, buffers.starIn, new Uint8Array(input.starIn, 0, 16 * n));
    upload(this.ctx, buffers.order, this.order.subarray(0, slots));
    const activeWord = new Uint32Array(1);
    let submissions = 0;
    let uploadMs = 0;
    let t1 = performance.now();
    let catalogue: ArrayBuffer | undefined;
    let readbackMs = 0;
    let gpuMs = NaN;
    let atStart = n;
    for (;;) {
      const ts = performance.now();
      this.ctx.submit((enc) => this.encode(enc, buffers, n, submissions === 0, submissions));
      const submitted = performance.now();
      uploadMs += submitted - (submissions === 0 ? t0 : ts);
      if (submissions === 0) t1 = submitted;
      const before = this.lastMs[submissions];
      const expected = before === undefined ? 0 : before * Math.min(1, atStart / (this.lastStars[submissions] as number));
      const sleep = SLEEP_FRACTION * expected - (performance.now() - submitted);
      const mapped = await buffers.readback.mapAfter(CATALOGUE_OFFSET + 4 * CAT_PLANES * n, sleep, expected);
      const tr = performance.now();
      this.lastMs[submissions] = tr - submitted;
      this.lastStars[submissions] = atStart;
      submissions++;
      try {
        const active = this.pipelines.fit ? (new Uint32Array(mapped, 0, 1)[0] as number) : 0;
        activeWord[0] = active;
        if (active === 0) {
          const bytes = 4 * CAT_PLANES * n;
          if (input.target) {
            new Uint8Array(input.target, 0, bytes).set(new Uint8Array(mapped, CATALOGUE_OFFSET, bytes));
            catalogue = input.target;
          } else {
            catalogue = mapped.slice(CATALOGUE_OFFSET, CATALOGUE_OFFSET + bytes);
          }
          if (this.timer) {
            const ticks = new BigUint64Array(mapped, TIMESTAMP_OFFSET, 2 * Math.min(submissions, TIMED_SUBMISSIONS));
            gpuMs = 0;
            for (let s = 0; s < ticks.length; s += 2) {
              const ms = Number((ticks[s + 1] as bigint) - (ticks[s] as bigint)) / 1e6;
              gpuMs += ms;
              if (ms > 0) this.lastMs[s >> 1] = ms;
            }
          }
        }
      } finally {
        buffers.readback.unmap();
      }
      readbackMs += performance.now() - tr;
      atStart = activeWord[0] as number;
      onProgress?.(n - atStart, n);
      if (catalogue) break;
      if (signal?.aborted) throw abortError(signal);
      if (submissions >= maxSubmissions) throw new GpuDeviceError(`star fits still active after ${submissions} submissions (${activeWord[0]} stars)`);
      this.writeIterations(schedule[Math.min(submissions, schedule.length - 1)] as number);
    }
    return {
      catalogue,
      timings: {
        uploadMs,
        loopMs: performance.now() - t1,
        readbackMs,
        submissions,
        gpuMs,
        chunks: this.chunks.length,
        bands: this.perBand.reduce((a, c) => a + (c > 0 ? 1 : 0), 0),
      },
    };
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.releaseBuffers();
    for (const b of [this.params, this.dao, this.active]) b.destroy();
    if (this.timer) {
      this.timer.querySet.destroy();
      this.timer.resolve.destroy();
    }
  }
}
