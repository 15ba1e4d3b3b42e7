/** GPU-side timing of compute passes with timestamp queries, where the device has them. */
import { BufferUsage, ReadbackBuffer } from './buffers.js';
import type { GpuContext } from './context.js';

/** Two timestamps around one compute pass; reused for every measurement. */
export class PassTimer {
  private readonly querySet: GPUQuerySet;
  private readonly resolve: GPUBuffer;
  private readonly readback: ReadbackBuffer;
  private readonly ticks = new BigUint64Array(2);

  constructor(ctx: GpuContext) {
    if (!ctx.hasTimestamps) throw new Error('this device has no timestamp-query feature');
    this.querySet = ctx.device.createQuerySet({ type: 'timestamp', count: 2 });
    this.resolve = ctx.device.createBuffer({
      label: 'timestamps',
      size: 16,
      usage: BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC,
    });
    this.readback = new ReadbackBuffer(ctx, 'timestamps read-back', 16);
  }

  /** The `timestampWrites` member of a compute pass descriptor. */
  get passWrites(): GPUComputePassTimestampWrites {
    return { querySet: this.querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 };
  }

  /** Call after the timed pass ended, in the same encoder. */
  resolveInto(encoder: GPUCommandEncoder): void {
    encoder.resolveQuerySet(this.querySet, 0, 2, this.resolve, 0);
    this.readback.copyFrom(encoder, this.resolve, 16);
  }

  /** Milliseconds between the two timestamps of the last resolved pass. */
  async readMs(): Promise<number> {
    await this.readback.read(this.ticks);
    return Number(this.ticks[1]! - this.ticks[0]!) / 1e6;
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolve.destroy();
    this.readback.destroy();
  }
}
