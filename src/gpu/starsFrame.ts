/**
 * A frame held on the GPU for star measurement: its pixels in one or more horizontal bands and
 * its sky as the background map's mesh grid (the bicubic spline's coefficients, 32 bytes per mesh,
 * evaluated by the kernels where a star needs it: gridSky of shaders/stars_common.wgsl),
 * 4 bytes per pixel uploaded; or, for sky planes made elsewhere, pixels, sky and sky σ planes
 * (12 bytes per pixel). Made once and reused: any number of position lists may be measured on
 * it, and `upload` replaces the frame with another of the same size in the same buffers. The
 * per-star buffers of the measurements (src/gpu/starsBatch.ts) hang off the frame as well, so
 * they too are made once and freed with it.
 *
 * Frames larger than one storage binding are cut into bands that overlap by a halo wide enough
 * for every pixel a star of any stamp radius (≤ 15) can touch; each star is measured in the band
 * that owns its starting row.
 */
import { isSharedBuffer } from '../cpu/workerPool.js';
import { skySplineCoefficients } from '../stars/background.js';
import { createStorageBuffer, upload } from './buffers.js';
import type { GpuContext } from './context.js';

/** Rows a star starting in a band may reach beyond it: the halo of the widest stamp (see haloRows). */
export const MAX_HALO = haloRows(15, 15);

/**
 * Rows around its starting row a star of stamp radius R and DAOFIND kernel radius KR can
 * touch: re-centring moves (3R), the annulus (ceil(1.5R)) and the metric cut-out (2KR) around
 * a centre up to R + 1 away.
 */
export function haloRows(R: number, KR: number): number {
  return Math.max(4 * R, 3 * R + Math.ceil(1.5 * R), 4 * R + 1 + 2 * KR) + 1;
}

/** Bytes per mesh of one sky plane on the GPU: four float32 spline coefficients. */
const GRID_BYTES_PER_PLANE_CELL = 16;

export interface FrameBand {
  /** First image row held, rows held, first and end of the rows it owns. */
  rowStart: number;
  rows: number;
  own0: number;
  own1: number;
  buffer: GPUBuffer;
}

/** The sky of a frame: a mesh grid (SkyGrid of src/stars/background.ts: mesh levels and σs) or full planes. */
export type FrameSky =
  | { kind: 'grid'; nx: number; ny: number; background: ArrayLike<number>; noise: ArrayLike<number> }
  | { kind: 'planes'; background: Float32Array; noise: Float32Array };

export interface FrameLayout {
  width: number;
  height: number;
  /** Planes per band pixel: 1 with a sky grid, 3 with sky planes. */
  planes: 1 | 3;
  /** Grid cells (nx·ny) the frame can hold; 0 with sky planes. */
  gridCells: number;
  /** Upper bound on the bytes of one band (tests force bands with it). */
  maxBandBytes?: number;
}

/** Something whose GPU memory goes with the frame's. */
export interface FrameAttachment {
  destroy(): void;
}

/**
 * A frame and its sky on the GPU, made by `uploadFrame` and passed to `measureStarsBatch` in
 * place of the image; `destroy()` frees its GPU memory.
 */
export class GpuStarFrame {
  /** The GPU context the buffers belong to. */
  readonly ctx: GpuContext;
  /** Frame width, px. */
  readonly width: number;
  /** Frame height, px. */
  readonly height: number;
  /** Float32 planes per band pixel: 1 (pixels) with a sky grid, 3 (pixels, sky, sky σ) with sky planes. */
  readonly planes: 1 | 3;
  /**
   * The horizontal bands the pixels are held in, top to bottom (one when the frame fits a
   * storage binding).
   * @internal
   */
  readonly bands: readonly FrameBand[];
  /**
   * The sky grid's spline coefficients (skySplineCoefficients), float32: gridNx·gridNy × 4 for the
   * level, then as many for the σ (binding 7 of the star kernels); a 16-byte dummy with sky planes.
   */
  readonly grid: GPUBuffer;
  /** Meshes (nx·ny) the grid buffer can hold; 0 with sky planes. */
  readonly gridCells: number;
  /** Meshes across of the sky grid uploaded last (0 before any grid upload or with sky planes). */
  gridNx = 0;
  /** Meshes down of the sky grid uploaded last (0 before any grid upload or with sky planes). */
  gridNy = 0;
  /**
   * Per-measurement state keyed by its configuration (StarsGpuBatch), freed with the frame.
   * @internal
   */
  readonly attached = new Map<string, FrameAttachment>();
  private destroyed = false;

  /**
   * Buffers for a frame of `layout` (uploadFrame makes frames; `upload` fills them).
   * @internal
   */
  constructor(ctx: GpuContext, layout: FrameLayout) {
    const { width: W, height: H, planes } = layout;
    if (!(Number.isInteger(W) && Number.isInteger(H) && W > 0 && H > 0)) throw new RangeError(`frame size must be positive integers, got ${W}×${H}`);
    this.ctx = ctx;
    this.width = W;
    this.height = H;
    this.planes = planes;
    const lim = ctx.limits;
    const maxBand = Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize, layout.maxBandBytes ?? Infinity);
    const rowBytes = 4 * planes * W;
    const rowsFit = Math.floor(maxBand / rowBytes);
    const bands: FrameBand[] = [];
    const halo = MAX_HALO;
    if (rowsFit >= H) {
      bands.push({ rowStart: 0, rows: H, own0: 0, own1: H, buffer: createStorageBuffer(ctx, 'stars frame', rowBytes * H) });
    } else {
      const own = rowsFit - 2 * halo;
      if (own < 1) {
        throw new RangeError(`a ${W}-pixel-wide frame needs bands of at least ${2 * halo + 1} rows (${(2 * halo + 1) * rowBytes} bytes), more than the ${maxBand}-byte binding limit`);
      }
      for (let own0 = 0; own0 < H; own0 += own) {
        const own1 = Math.min(H, own0 + own);
        const rowStart = Math.max(0, own0 - halo);
        const rows = Math.min(H, own1 + halo) - rowStart;
        bands.push({ rowStart, rows, own0, own1, buffer: createStorageBuffer(ctx, `stars frame band ${bands.length}`, rowBytes * rows) });
      }
    }
    this.bands = bands;
    this.gridCells = layout.gridCells;
    this.grid = createStorageBuffer(ctx, 'stars sky grid', Math.max(2 * GRID_BYTES_PER_PLANE_CELL * layout.gridCells, 16));
  }

  /**
   * Replaces the frame's pixels and sky. `data` is width·height pixels, row-major; the sky must
   * be of the kind the frame was made for (grid cells within its capacity). `uploadFrame(ctx,
   * image, { into })` is the checked way to call it.
   * @internal
   */
  upload(data: Float32Array, sky: FrameSky): void {
    if (this.destroyed) throw new Error('this GPU frame was destroyed');
    const W = this.width;
    const n = W * this.height;
    if (data.length !== n) throw new RangeError(`frame data has ${data.length} pixels, the GPU frame holds ${W}×${this.height} = ${n}`);
    if ((sky.kind === 'planes') !== (this.planes === 3)) throw new Error(`this GPU frame holds its sky as ${this.planes === 3 ? 'planes' : 'a tile grid'}, not ${sky.kind === 'planes' ? 'planes' : 'a tile grid'}`);
    // Every check before the first write, so that a rejected call leaves the frame as it was.
    if (sky.kind === 'planes' && (sky.background.length !== n || sky.noise.length !== n)) throw new RangeError(`sky planes must hold ${n} values each`);
    if (sky.kind === 'grid' && (!(Number.isInteger(sky.nx) && Number.isInteger(sky.ny) && sky.nx > 0 && sky.ny > 0) || sky.nx * sky.ny > this.gridCells)) {
      throw new RangeError(`sky grid ${sky.nx}×${sky.ny} does not fit this GPU frame's ${this.gridCells} cells`);
    }
    // Dawn's writeBuffer takes no SharedArrayBuffer (a frame shared with CPU workers): such
    // planes go through one reused staging array, a few MiB at a time.
    let staging: Float32Array | undefined;
    const put = (buffer: GPUBuffer, plane: Float32Array, byteOffset: number): void => {
      if (!isSharedBuffer(plane.buffer)) {
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
      put(band.buffer, data.subarray(a, b), 0);
      if (sky.kind === 'planes') {
        const plane = 4 * band.rows * W;
        put(band.buffer, sky.background.subarray(a, b), plane);
        put(band.buffer, sky.noise.subarray(a, b), 2 * plane);
      }
    }
    if (sky.kind === 'grid') {
      const cells = sky.nx * sky.ny;
      // The spline's coefficients are computed here, once per frame (a few thousand meshes), so
      // that the kernels evaluate the sky at any pixel from 4 meshes with no system to solve.
      const g = new Float32Array(8 * cells);
      g.set(skySplineCoefficients(sky.background, sky.nx, sky.ny));
      g.set(skySplineCoefficients(sky.noise, sky.nx, sky.ny), 4 * cells);
      upload(this.ctx, this.grid, g);
      this.gridNx = sky.nx;
      this.gridNy = sky.ny;
    }
  }

  /** Frees the frame's buffers and everything attached to it. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const a of this.attached.values()) a.destroy();
    this.attached.clear();
    for (const b of this.bands) b.buffer.destroy();
    this.grid.destroy();
  }

  /** Whether `destroy()` has run (its GPU memory is freed). */
  get isDestroyed(): boolean {
    return this.destroyed;
  }
}
