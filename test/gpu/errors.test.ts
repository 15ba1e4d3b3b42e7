import { describe, expect, it } from 'vitest';
import { createStorageBuffer } from '../../src/gpu/buffers.js';
import { GpuContext, GpuDeviceError } from '../../src/gpu/context.js';
import { BatchedFft } from '../../src/gpu/fft.js';
import { gpuLabel, testGpu } from '../util/gpu.js';

const shared = await testGpu();

describe.skipIf(!shared)(`device errors surface as exceptions ${gpuLabel(shared)}`, () => {
  it('a command that fails validation is reported by the next settle, not silently', async () => {
    const ctx = shared!;
    const small = createStorageBuffer(ctx, 'small', 16);
    const big = createStorageBuffer(ctx, 'big', 1024);
    ctx.submit((enc) => enc.copyBufferToBuffer(big, 0, small, 0, 1024));
    await expect(ctx.settle()).rejects.toBeInstanceOf(GpuDeviceError);
    // The context stays usable for correct work afterwards.
    ctx.submit((enc) => enc.copyBufferToBuffer(small, 0, big, 0, 16));
    await expect(ctx.settle()).resolves.toBeUndefined();
    small.destroy();
    big.destroy();
  });

  it('a lost device makes the next call throw instead of hanging', async () => {
    const ctx = await GpuContext.create();
    const fft = await BatchedFft.create(ctx, { n: 256, capacity: 2 });
    await fft.forward(new Float32Array(512), 2);
    ctx.destroy();
    await expect(fft.forward(new Float32Array(512), 2)).rejects.toBeInstanceOf(GpuDeviceError);
    await expect(fft.forward(new Float32Array(512), 2)).rejects.toThrow(/lost|destroyed/i);
  });

  it('buffer sizes beyond the device limits are refused with the size', () => {
    const ctx = shared!;
    const tooBig = ctx.limits.maxStorageBufferBindingSize + 16;
    expect(() => createStorageBuffer(ctx, 'huge', tooBig)).toThrow(new RegExp(`${tooBig} bytes exceed maxStorageBufferBindingSize`));
  });
});
