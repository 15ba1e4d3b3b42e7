/**
 * Batched forward real-to-complex FFT on the GPU (shaders/fft.wgsl): `columns` real columns of
 * n samples → the first nOut complex bins of each, in float32.
 *
 * The kernel is a Stockham FFT of the n/2 complex points, one workgroup of n/32 invocations per
 * column, 16 points per invocation; `fftKernelPlan` and `fftTwiddles` give its passes and its
 * pass-major twiddle table (scripts/fft-wavefronts.mjs models the same plan).
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

/** Size and capacity of a `BatchedFft`, fixed when it is created (its buffers are made once). */
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

/** What one `forward` call returns. */
export interface FftRunResult {
  /** [columns][nOut] interleaved (re, im). */
  spectrum: Float32Array;
  /** GPU time of the compute pass, where the device has timestamp queries. */
  kernelMs?: number;
}

const PARAMS_BYTES = 32;

/** Passes, workgroup and twiddle table of the kernel for an n-point transform. */
export interface FftKernelPlan {
  n: number;
  /** log2(n/2), the kernel's LOG2_M. */
  log2m: number;
  /** n/32 invocations, 16 points each. */
  workgroupSize: number;
  /** Radix of pass 0 (2, 4, 8 or 16), read straight from the column. */
  firstRadix: number;
  /** Radix-16 passes after pass 0. */
  radix16Passes: number;
  /** Start of each radix-16 pass's twiddle block, in vec2 entries (multiples of 16). */
  passTwiddleOffsets: number[];
  /** Start of the split's W_n^k, k = 0..n/4. */
  splitTwiddleOffset: number;
  /** Length of the twiddle table, in vec2 entries. */
  twiddleEntries: number;
  /** Workgroup memory: the n/2 points once, no padding. */
  workgroupBytes: number;
}

/** The kernel's plan for n (a power of two ≥ 256; device limits are checked by `BatchedFft.create`). */
export function fftKernelPlan(n: number): FftKernelPlan {
  if (!Number.isInteger(n) || n < 256 || (n & (n - 1)) !== 0) {
    throw new RangeError(`n must be a power of two ≥ 256, got ${n}`);
  }
  const m = n / 2;
  const log2m = Math.round(Math.log2(m));
  // As FIRST_STAGES in the WGSL: log2m mod 4 radix-2 stages in pass 0, or 4.
  const firstStages = ((log2m + 3) % 4) + 1;
  const radix16Passes = (log2m - firstStages) / 4;
  const passTwiddleOffsets: number[] = [];
  let offset = 0;
  for (let p = 0, ns = 1 << firstStages; p < radix16Passes; p++, ns *= 16) {
    passTwiddleOffsets.push(offset);
    offset += Math.ceil((15 * ns) / 16) * 16;
  }
  return {
    n,
    log2m,
    workgroupSize: m / 16,
    firstRadix: 1 << firstStages,
    radix16Passes,
    passTwiddleOffsets,
    splitTwiddleOffset: offset,
    twiddleEntries: offset + m / 2 + 1,
    workgroupBytes: m * 8,
  };
}

/**
 * The kernel's twiddle table, interleaved (cos, sin) in f32, computed in float64 and rounded
 * once: radix-16 pass p with stride Ns holds W_{16·Ns}^{r·k} at passTwiddleOffsets[p] + (r−1)·Ns + k
 * (r = 1..15, k < Ns), so each of the pass's reads takes consecutive entries across invocations;
 * the split's W_n^k (k = 0..n/4) follow at splitTwiddleOffset.
 */
export function fftTwiddles(n: number): Float32Array {
  const plan = fftKernelPlan(n);
  const tw = new Float32Array(2 * plan.twiddleEntries);
  const put = (i: number, num: number, den: number): void => {
    tw[2 * i] = Math.cos((-2 * Math.PI * num) / den);
    tw[2 * i + 1] = Math.sin((-2 * Math.PI * num) / den);
  };
  for (let p = 0, ns = plan.firstRadix; p < plan.radix16Passes; p++, ns *= 16) {
    const off = plan.passTwiddleOffsets[p]!;
    for (let r = 1; r < 16; r++) for (let k = 0; k < ns; k++) put(off + (r - 1) * ns + k, r * k, 16 * ns);
  }
  for (let k = 0; k <= n / 4; k++) put(plan.splitTwiddleOffset + k, k, n);
  return tw;
}

/**
 * Real-to-complex FFTs of many columns at once on the GPU (a Stockham kernel, one workgroup per
 * column), with input, output and read-back buffers made once at `create` and kept.
 */
export class BatchedFft {
  /** Transform size (points, a power of two). */
  readonly n: number;
  /** Bins kept per column, from bin 0. */
  readonly nOut: number;
  /** Samples stored per column; the rest up to n is zero padding. */
  readonly inputLength: number;
  /** Most columns one call transforms. */
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
  private readonly passes: number;
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

    this.passes = fftKernelPlan(o.n).radix16Passes;
    const tw = fftTwiddles(o.n);
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

  /** Checks the options, compiles the kernel and makes the buffers. */
  static async create(ctx: GpuContext, options: BatchedFftOptions): Promise<BatchedFft> {
    const { n, capacity } = options;
    const nOut = options.nOut ?? n / 2 + 1;
    const inputLength = options.inputLength ?? n;
    const plan = fftKernelPlan(n);
    const lim = ctx.limits;
    if (plan.workgroupBytes > lim.maxComputeWorkgroupStorageSize) {
      throw new RangeError(
        `n = ${n} needs ${plan.workgroupBytes} bytes of workgroup memory, more than this device's ${lim.maxComputeWorkgroupStorageSize}`,
      );
    }
    const maxWg = Math.min(lim.maxComputeInvocationsPerWorkgroup, lim.maxComputeWorkgroupSizeX);
    if (plan.workgroupSize > maxWg) {
      throw new RangeError(`n = ${n} needs workgroups of ${plan.workgroupSize} invocations, more than this device's ${maxWg}`);
    }
    if (!Number.isInteger(nOut) || nOut < 1 || nOut > n / 2 + 1) throw new RangeError(`nOut must be in 1..${n / 2 + 1}, got ${nOut}`);
    if (!Number.isInteger(inputLength) || inputLength < 1 || inputLength > n) {
      throw new RangeError(`inputLength must be in 1..${n}, got ${inputLength}`);
    }
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    const pipeline = await computePipeline(ctx, 'fft', 'forward', { LOG2_M: plan.log2m });
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
      p[5] = this.passes;
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

  /** Releases the GPU buffers (the context stays usable). */
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
