/**
 * Batched forward real-to-complex FFT on the GPU (shaders/fft.wgsl): `columns` real columns of
 * n samples → the first nOut complex bins of each, in float32.
 *
 * Buffers, bind groups and the pipeline are created once per `BatchedFft` for a capacity of
 * columns and reused by every call; batches beyond one storage binding are cut into chunks
 * that are all dispatched in one compute pass and one submission.
 */
import { createStorageBuffer, createUniformBuffer, ReadbackBuffer, upload } from './buffers.js';
import { dispatchGrid, maxItemsPerChunk, type Chunk } from './chunks.js';
import type { GpuContext } from './context.js';
import { computePipeline } from './pipelines.js';
import { PassTimer } from './timing.js';

export interface BatchedFftOptions {
  /** Transform size, a power of two from 256 to the largest whose n/2 points fit workgroup memory. */
  n: number;
  /** Bins kept per column, 1..n/2+1 (default all n/2+1). */
  nOut?: number;
  /** Samples stored per column (≤ n); the rest up to n is zero padding (default n). */
  inputLength?: number;
  /** Most columns one call transforms. */
  capacity: number;
  /** Upper bound on the bytes of one storage binding, below the device's own (to test chunking). */
  maxBindingBytes?: number;
}

export interface FftRunResult {
  /** [columns][nOut] interleaved (re, im). */
  spectrum: Float32Array;
  /** GPU time of the compute pass, where the device has timestamp queries. */
  kernelMs?: number;
}

const PARAMS_BYTES = 32;
const WORKGROUP_SIZE = 256;

export class BatchedFft {
  readonly n: number;
  readonly nOut: number;
  readonly inputLength: number;
  readonly capacity: number;
  /** Input columns, [capacity][inputLength] f32; kernels of a larger pipeline may fill it in place. */
  readonly columns: GPUBuffer;
  /** Output, [capacity][nOut] vec2<f32>. */
  readonly spectrum: GPUBuffer;
  private readonly ctx: GpuContext;
  private readonly pipeline: GPUComputePipeline;
  private readonly params: GPUBuffer;
  private readonly paramStride: number;
  private readonly paramData: Uint32Array;
  private readonly twiddles: GPUBuffer;
  private readonly chunkCapacity: number;
  private readonly bindGroups: GPUBindGroup[];
  private readonly readback: ReadbackBuffer;
  private timer: PassTimer | undefined;

  private constructor(ctx: GpuContext, pipeline: GPUComputePipeline, o: Required<BatchedFftOptions>) {
    this.ctx = ctx;
    this.pipeline = pipeline;
    this.n = o.n;
    this.nOut = o.nOut;
    this.inputLength = o.inputLength;
    this.capacity = o.capacity;
    const lim = ctx.limits;
    const inBytes = o.inputLength * 4;
    const outBytes = o.nOut * 8;
    // Chunk starts must give binding offsets aligned to minStorageBufferOffsetAlignment.
    const align = lim.minStorageBufferOffsetAlignment;
    const itemAlignment = Math.max(align / gcd(align, inBytes), align / gcd(align, outBytes));
    this.chunkCapacity = Math.min(
      o.capacity,
      maxItemsPerChunk({
        bytesPerItem: [inBytes, outBytes],
        maxStorageBufferBindingSize: Math.min(lim.maxStorageBufferBindingSize, o.maxBindingBytes),
        itemAlignment,
        maxComputeWorkgroupsPerDimension: lim.maxComputeWorkgroupsPerDimension,
      }),
    );
    const chunked = this.chunkCapacity < o.capacity;
    this.columns = createStorageBuffer(ctx, 'fft columns', o.capacity * inBytes, { wholeBinding: !chunked });
    this.spectrum = createStorageBuffer(ctx, 'fft spectrum', o.capacity * outBytes, { wholeBinding: !chunked });

    const tw = new Float32Array(2 * o.n);
    for (let j = 0; j < o.n; j++) {
      tw[2 * j] = Math.cos((-2 * Math.PI * j) / o.n);
      tw[2 * j + 1] = Math.sin((-2 * Math.PI * j) / o.n);
    }
    this.twiddles = createStorageBuffer(ctx, 'fft twiddles', tw.byteLength);
    upload(ctx, this.twiddles, tw);

    const nChunks = Math.ceil(o.capacity / this.chunkCapacity);
    this.paramStride = Math.max(PARAMS_BYTES, lim.minUniformBufferOffsetAlignment);
    this.params = createUniformBuffer(ctx, 'fft params', this.paramStride * nChunks);
    this.paramData = new Uint32Array((this.paramStride * nChunks) / 4);
    this.bindGroups = [];
    for (let c = 0; c < nChunks; c++) {
      const start = c * this.chunkCapacity;
      const count = Math.min(this.chunkCapacity, o.capacity - start);
      this.bindGroups.push(
        ctx.device.createBindGroup({
          label: `fft chunk ${c}`,
          layout: pipeline.getBindGroupLayout(0),
          entries: [
            { binding: 0, resource: { buffer: this.params, offset: c * this.paramStride, size: PARAMS_BYTES } },
            { binding: 1, resource: { buffer: this.columns, offset: start * inBytes, size: roundUp4(count * inBytes) } },
            { binding: 2, resource: { buffer: this.spectrum, offset: start * outBytes, size: count * outBytes } },
            { binding: 3, resource: { buffer: this.twiddles } },
          ],
        }),
      );
    }
    this.readback = new ReadbackBuffer(ctx, 'fft read-back', o.capacity * outBytes);
  }

  static async create(ctx: GpuContext, options: BatchedFftOptions): Promise<BatchedFft> {
    const { n, capacity } = options;
    const nOut = options.nOut ?? n / 2 + 1;
    const inputLength = options.inputLength ?? n;
    if (!Number.isInteger(n) || n < 256 || (n & (n - 1)) !== 0) {
      throw new RangeError(`n must be a power of two ≥ 256, got ${n}`);
    }
    const wgBytes = (n / 2) * 8;
    if (wgBytes > ctx.limits.maxComputeWorkgroupStorageSize) {
      throw new RangeError(
        `n = ${n} needs ${wgBytes} bytes of workgroup memory, more than this device's ${ctx.limits.maxComputeWorkgroupStorageSize}`,
      );
    }
    if (!Number.isInteger(nOut) || nOut < 1 || nOut > n / 2 + 1) throw new RangeError(`nOut must be in 1..${n / 2 + 1}, got ${nOut}`);
    if (!Number.isInteger(inputLength) || inputLength < 1 || inputLength > n) {
      throw new RangeError(`inputLength must be in 1..${n}, got ${inputLength}`);
    }
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    const log2m = Math.round(Math.log2(n / 2));
    const wg = Math.min(WORKGROUP_SIZE, ctx.limits.maxComputeInvocationsPerWorkgroup, n / 4);
    const pipeline = await computePipeline(ctx, 'fft', 'forward', { LOG2_M: log2m, WG: wg });
    return new BatchedFft(ctx, pipeline, {
      n,
      nOut,
      inputLength,
      capacity,
      maxBindingBytes: options.maxBindingBytes ?? Number.POSITIVE_INFINITY,
    });
  }

  /** The chunks a batch of `columns` is cut into (one dispatch each). */
  chunks(columns: number): Chunk[] {
    if (!Number.isInteger(columns) || columns < 0 || columns > this.capacity) {
      throw new RangeError(`columns must be an integer in 0..${this.capacity} (the capacity), got ${columns}`);
    }
    const out: Chunk[] = [];
    for (let start = 0; start < columns; start += this.chunkCapacity) {
      out.push({ start, count: Math.min(this.chunkCapacity, columns - start) });
    }
    return out;
  }

  /** Writes the per-chunk parameters for a batch of `columns`; call before `encode`. */
  prepare(columns: number): void {
    const maxDim = this.ctx.limits.maxComputeWorkgroupsPerDimension;
    const words = this.paramStride / 4;
    for (const [c, ch] of this.chunks(columns).entries()) {
      const p = this.paramData.subarray(c * words, c * words + PARAMS_BYTES / 4);
      p[0] = ch.count;
      p[1] = this.nOut;
      p[2] = this.inputLength;
      p[3] = this.inputLength;
      p[4] = dispatchGrid(ch.count, maxDim).x;
    }
    upload(this.ctx, this.params, this.paramData);
  }

  /** Records the dispatches transforming the first `columns` columns into an open compute pass. */
  encode(pass: GPUComputePassEncoder, columns: number): void {
    const maxDim = this.ctx.limits.maxComputeWorkgroupsPerDimension;
    pass.setPipeline(this.pipeline);
    for (const [c, ch] of this.chunks(columns).entries()) {
      const g = dispatchGrid(ch.count, maxDim);
      pass.setBindGroup(0, this.bindGroups[c]!);
      pass.dispatchWorkgroups(g.x, g.y);
    }
  }

  /**
   * Uploads `input` ([columns][inputLength] f32), transforms it and reads the spectrum back into
   * `out` (allocated when not given).
   */
  async forward(input: Float32Array, columns: number, options: { out?: Float32Array; timing?: boolean } = {}): Promise<FftRunResult> {
    if (input.length < columns * this.inputLength) {
      throw new RangeError(`input holds ${input.length} values, fewer than columns × inputLength = ${columns * this.inputLength}`);
    }
    const outLen = columns * this.nOut * 2;
    const out = options.out ?? new Float32Array(outLen);
    if (out.length < outLen) throw new RangeError(`out holds ${out.length} values, needs ${outLen}`);
    const timer = options.timing && this.ctx.hasTimestamps ? (this.timer ??= new PassTimer(this.ctx)) : undefined;
    upload(this.ctx, this.columns, input.subarray(0, columns * this.inputLength));
    this.prepare(columns);
    this.ctx.submit((enc) => {
      const pass = enc.beginComputePass(timer ? { timestampWrites: timer.passWrites } : {});
      this.encode(pass, columns);
      pass.end();
      if (timer) timer.resolveInto(enc);
      this.readback.copyFrom(enc, this.spectrum, outLen * 4);
    });
    await this.readback.read(out.subarray(0, outLen));
    const result: FftRunResult = { spectrum: out };
    if (timer) result.kernelMs = await timer.readMs();
    return result;
  }

  destroy(): void {
    for (const b of [this.columns, this.spectrum, this.twiddles, this.params]) b.destroy();
    this.readback.destroy();
    this.timer?.destroy();
  }
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function roundUp4(bytes: number): number {
  return Math.ceil(bytes / 4) * 4;
}
