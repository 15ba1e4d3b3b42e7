import { describe, expect, it } from 'vitest';
import { GpuContext, GpuUnavailableError } from '../../src/gpu/context.js';

describe('GPU context without an adapter (no GPU needed)', () => {
  it('throws GpuUnavailableError when the GPU offers no adapter', async () => {
    const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
    await expect(GpuContext.create({ gpu: noAdapter })).rejects.toBeInstanceOf(GpuUnavailableError);
    await expect(GpuContext.create({ gpu: noAdapter })).rejects.toThrow(/no WebGPU adapter/);
  });

  it('wraps a failing requestAdapter in GpuUnavailableError', async () => {
    const broken = {
      requestAdapter: async () => {
        throw new Error('driver exploded');
      },
    } as unknown as GPU;
    await expect(GpuContext.create({ gpu: broken })).rejects.toThrow(/requestAdapter failed: driver exploded/);
  });
});
