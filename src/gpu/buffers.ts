/** Storage, uniform and read-back buffers, with their sizes checked against the device limits. */
import { GpuDeviceError, type GpuContext } from './context.js';

// WebGPU's usage and map-mode bits (fixed by the specification). Spelled out because Node has
// no GPUBufferUsage global.
export const BufferUsage = {
  MAP_READ: 0x1,
  MAP_WRITE: 0x2,
  COPY_SRC: 0x4,
  COPY_DST: 0x8,
  UNIFORM: 0x40,
  STORAGE: 0x80,
  QUERY_RESOLVE: 0x200,
} as const;
const MAP_MODE_READ = 0x1;
const MAP_MODE_WRITE = 0x2;

const TIMED_OUT = Symbol('timed out');
/** Shorter sleeps are left to a plain mapping (timer granularity, wake-up latency). */
const MIN_SLEEP_MS = 4;
/** After a sleep, the mapping is probed at this fraction of the expected time (mapProbing). */
const PROBE_GAP = 0.02;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Buffers are sized in multiples of 16 bytes: copies need 4, uniform structs 16. */
export function paddedSize(bytes: number): number {
  return Math.max(16, Math.ceil(bytes / 16) * 16);
}

function checkSize(ctx: GpuContext, label: string, bytes: number, binding: boolean): void {
  if (!Number.isFinite(bytes) || bytes <= 0) throw new RangeError(`${label}: buffer size must be positive, got ${bytes}`);
  const lim = ctx.limits;
  if (bytes > lim.maxBufferSize) {
    throw new RangeError(`${label}: ${bytes} bytes exceed this device's maxBufferSize = ${lim.maxBufferSize}`);
  }
  if (binding && bytes > lim.maxStorageBufferBindingSize) {
    throw new RangeError(
      `${label}: ${bytes} bytes exceed maxStorageBufferBindingSize = ${lim.maxStorageBufferBindingSize}; split the batch (see planChunks)`,
    );
  }
}

/**
 * A storage buffer for kernel data. With `wholeBinding` the buffer is bound in one piece, so it
 * must fit `maxStorageBufferBindingSize`; otherwise it is bound in ranges (chunks).
 */
export function createStorageBuffer(
  ctx: GpuContext,
  label: string,
  bytes: number,
  options: { wholeBinding?: boolean; copySrc?: boolean; copyDst?: boolean } = {},
): GPUBuffer {
  const size = paddedSize(bytes);
  checkSize(ctx, label, size, options.wholeBinding ?? true);
  let usage = BufferUsage.STORAGE;
  if (options.copySrc ?? true) usage |= BufferUsage.COPY_SRC;
  if (options.copyDst ?? true) usage |= BufferUsage.COPY_DST;
  return ctx.device.createBuffer({ label, size, usage });
}

export function createUniformBuffer(ctx: GpuContext, label: string, bytes: number): GPUBuffer {
  const size = paddedSize(bytes);
  if (size > ctx.limits.maxUniformBufferBindingSize) {
    throw new RangeError(`${label}: ${size} bytes exceed maxUniformBufferBindingSize = ${ctx.limits.maxUniformBufferBindingSize}`);
  }
  return ctx.device.createBuffer({ label, size, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST });
}

/** Copies typed-array data into a buffer at a byte offset (sizes rounded to 4 bytes as WebGPU needs). */
export function upload(ctx: GpuContext, buffer: GPUBuffer, data: ArrayBufferView, byteOffset = 0): void {
  ctx.assertUsable();
  if (data.byteLength % 4 !== 0) throw new RangeError(`upload size must be a multiple of 4 bytes, got ${data.byteLength}`);
  if (byteOffset + data.byteLength > buffer.size) {
    throw new RangeError(`${buffer.label}: upload of ${data.byteLength} bytes at offset ${byteOffset} overruns its ${buffer.size} bytes`);
  }
  ctx.device.queue.writeBuffer(buffer, byteOffset, data.buffer, data.byteOffset, data.byteLength);
}

/**
 * A MAP_READ staging buffer reused for every read-back of up to `capacity` bytes: copy into it
 * in the same submission as the kernels, then `read`.
 */
export class ReadbackBuffer {
  readonly buffer: GPUBuffer;
  private readonly ctx: GpuContext;

  constructor(ctx: GpuContext, label: string, capacity: number) {
    const size = paddedSize(capacity);
    checkSize(ctx, label, size, false);
    this.ctx = ctx;
    this.buffer = ctx.device.createBuffer({ label, size, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
  }

  /** Adds the copy of `bytes` bytes from `source` (at `sourceOffset`) to an encoder. */
  copyFrom(encoder: GPUCommandEncoder, source: GPUBuffer, bytes: number, sourceOffset = 0, targetOffset = 0): void {
    encoder.copyBufferToBuffer(source, sourceOffset, this.buffer, targetOffset, Math.ceil(bytes / 4) * 4);
  }

  /**
   * Waits for the submitted work, then copies `target.byteLength` bytes (from `byteOffset`) into
   * `target`. Errors of the commands submitted so far are thrown here.
   */
  async read(target: ArrayBufferView, byteOffset = 0): Promise<void> {
    await this.ctx.settle();
    const b = this.buffer;
    try {
      await b.mapAsync(MAP_MODE_READ, byteOffset, Math.ceil(target.byteLength / 4) * 4);
    } catch (e) {
      this.ctx.assertUsable();
      throw new GpuDeviceError(`read-back of ${b.label} failed: ${(e as Error).message}`, { cause: e });
    }
    try {
      const src = new Uint8Array(b.getMappedRange(byteOffset, Math.ceil(target.byteLength / 4) * 4), 0, target.byteLength);
      new Uint8Array(target.buffer, target.byteOffset, target.byteLength).set(src);
    } finally {
      b.unmap();
    }
  }

  /**
   * Waits for the submitted work and maps the first `bytes` bytes: the caller reads (or copies)
   * straight out of the mapping, which stays valid until `unmap` (no copy may target the buffer
   * before that).
   */
  async map(bytes: number): Promise<ArrayBuffer> {
    await this.ctx.settle();
    const b = this.buffer;
    const size = Math.ceil(bytes / 4) * 4;
    try {
      await b.mapAsync(MAP_MODE_READ, 0, size);
    } catch (e) {
      this.ctx.assertUsable();
      throw new GpuDeviceError(`read-back of ${b.label} failed: ${(e as Error).message}`, { cause: e });
    }
    return b.getMappedRange(0, size);
  }

  /**
   * As `map`, for a wait the caller expects to be long: a pending `mapAsync` makes Dawn's Node
   * binding poll the device from the JS thread in a tight loop whose garbage keeps V8's
   * collector busy, so the mapping is probed instead — each probe's polling is cut short after
   * `probeMs` (unmapping aborts a pending mapping) and the thread sleeps `gapMs` before the next.
   */
  async mapProbing(bytes: number, gapMs: number, probeMs = 1): Promise<ArrayBuffer> {
    await this.ctx.settle();
    const b = this.buffer;
    const size = Math.ceil(bytes / 4) * 4;
    for (;;) {
      const mapping = b.mapAsync(MAP_MODE_READ, 0, size).then(
        () => undefined,
        (e: unknown) => e,
      );
      const first = await Promise.race([mapping, sleep(probeMs).then(() => TIMED_OUT)]);
      if (first === undefined || b.mapState === 'mapped') return b.getMappedRange(0, size);
      if (first !== TIMED_OUT) {
        this.ctx.assertUsable();
        throw new GpuDeviceError(`read-back of ${b.label} failed: ${(first as Error).message}`, { cause: first });
      }
      b.unmap();
      // The aborted mapping settles (with an AbortError) before the buffer may be mapped again.
      await mapping;
      await sleep(gapMs);
    }
  }

  /**
   * `map` for work expected to take `expectedMs`, of which the thread may first sleep through
   * `sleepMs`: a sleep worth taking (at least MIN_SLEEP_MS) is followed by `mapProbing` every
   * PROBE_GAP of the expected time; a shorter wait is left to a plain `map`.
   */
  async mapAfter(bytes: number, sleepMs: number, expectedMs: number): Promise<ArrayBuffer> {
    if (!(sleepMs >= MIN_SLEEP_MS)) return this.map(bytes);
    await sleep(sleepMs);
    return this.mapProbing(bytes, Math.max(1, PROBE_GAP * expectedMs));
  }

  unmap(): void {
    this.buffer.unmap();
  }

  /** Whether a mapping is held (see map). */
  get mapped(): boolean {
    return this.buffer.mapState !== 'unmapped';
  }

  destroy(): void {
    this.buffer.destroy();
  }
}

/**
 * A MAP_WRITE staging buffer reused for every upload of up to `capacity` bytes: fill (mapping
 * it, if the last upload unmapped it, and copying into the mapping), then copyTo in the
 * submission that consumes the data. Large `queue.writeBuffer` calls go through fresh staging
 * memory each time, whose first touch costs the host several times the copy itself; this
 * buffer's pages are touched once. It is mapped again only when the next fill needs it: a
 * pending mapping keeps Dawn's Node binding polling the device from the calling thread.
 */
export class UploadBuffer {
  readonly buffer: GPUBuffer;
  private readonly ctx: GpuContext;

  constructor(ctx: GpuContext, label: string, capacity: number) {
    const size = paddedSize(capacity);
    checkSize(ctx, label, size, false);
    this.ctx = ctx;
    this.buffer = ctx.device.createBuffer({ label, size, usage: BufferUsage.MAP_WRITE | BufferUsage.COPY_SRC, mappedAtCreation: true });
  }

  /**
   * Maps the buffer (waiting for the GPU to be done with its previous contents), lets `fill`
   * write the first `bytes` bytes straight into the mapping (gathering pieces, converting
   * types), unmaps.
   */
  async fill(bytes: number, fill: (mapped: ArrayBuffer) => void): Promise<void> {
    const b = this.buffer;
    const size = Math.ceil(bytes / 4) * 4;
    if (size > b.size) throw new RangeError(`${b.label}: upload of ${bytes} bytes overruns its ${b.size} bytes`);
    if (b.mapState === 'unmapped') {
      try {
        await b.mapAsync(MAP_MODE_WRITE, 0, size);
      } catch (e) {
        this.ctx.assertUsable();
        throw new GpuDeviceError(`mapping ${b.label} for writing failed: ${(e as Error).message}`, { cause: e });
      }
    }
    this.ctx.assertUsable();
    try {
      fill(b.getMappedRange(0, size));
    } finally {
      b.unmap();
    }
  }

  /** Adds the copy of the first `bytes` bytes into `target` to an encoder. */
  copyTo(encoder: GPUCommandEncoder, target: GPUBuffer, bytes: number, targetOffset = 0): void {
    encoder.copyBufferToBuffer(this.buffer, 0, target, targetOffset, Math.ceil(bytes / 4) * 4);
  }

  destroy(): void {
    this.buffer.destroy();
  }
}
