import { describe, expect, it } from 'vitest';
import { dispatchGrid, maxItemsPerChunk, planChunks } from '../../src/gpu/chunks.js';

describe('chunking arithmetic (no GPU needed)', () => {
  const lavapipe = { maxStorageBufferBindingSize: 134_217_728, maxComputeWorkgroupsPerDimension: 65_535 };

  it('fits 2048-sample f32 columns into 128 MiB bindings: 16 384 per chunk', () => {
    expect(maxItemsPerChunk({ ...lavapipe, bytesPerItem: [2048 * 4] })).toBe(16_384);
    const chunks = planChunks(100_000, { ...lavapipe, bytesPerItem: [2048 * 4, 1025 * 8] });
    // 1025 complex bins (8200 B) bound the chunk: floor(2^27 / 8200) = 16 368 columns.
    expect(chunks.map((c) => c.count)).toEqual([16368, 16368, 16368, 16368, 16368, 16368, 1792]);
    expect(chunks.map((c) => c.start)).toEqual([0, 16368, 32736, 49104, 65472, 81840, 98208]);
  });

  it('covers the batch exactly, in order, with aligned starts', () => {
    const chunks = planChunks(1001, { bytesPerItem: [100], maxStorageBufferBindingSize: 10_000, itemAlignment: 32 });
    expect(chunks.every((c) => c.start % 32 === 0)).toBe(true);
    expect(chunks.reduce((s, c) => s + c.count, 0)).toBe(1001);
    expect(chunks[0]!.count).toBe(96);
  });

  it('bounds a chunk by the 2-D dispatch limit', () => {
    expect(maxItemsPerChunk({ bytesPerItem: [4], maxStorageBufferBindingSize: 2 ** 40, maxComputeWorkgroupsPerDimension: 10 })).toBe(100);
  });

  it('an empty batch has no chunks; bad sizes are rejected with their value', () => {
    expect(planChunks(0, { bytesPerItem: [4], maxStorageBufferBindingSize: 16 })).toEqual([]);
    expect(() => planChunks(-1, { bytesPerItem: [4], maxStorageBufferBindingSize: 16 })).toThrow(/-1/);
    expect(() => maxItemsPerChunk({ bytesPerItem: [64], maxStorageBufferBindingSize: 16 })).toThrow(/64 bytes/);
  });

  it('lays out a dispatch grid in x first, then rows in y', () => {
    expect(dispatchGrid(1000, 65_535)).toEqual({ x: 1000, y: 1 });
    expect(dispatchGrid(100_000, 65_535)).toEqual({ x: 65_535, y: 2 });
    expect(dispatchGrid(0, 65_535)).toEqual({ x: 0, y: 0 });
    expect(() => dispatchGrid(101, 10)).toThrow(/101 workgroups/);
  });
});
