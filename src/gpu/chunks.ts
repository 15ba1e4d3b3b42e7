/**
 * Splitting a batch so each dispatch fits the device: storage bindings are limited to
 * `maxStorageBufferBindingSize` bytes and a dispatch to `maxComputeWorkgroupsPerDimension`
 * workgroups per dimension. Pure arithmetic, testable without a GPU.
 */

/** One dispatch's share of a batch: items start … start + count − 1. */
export interface Chunk {
  /** Index of the first item of the chunk. */
  start: number;
  /** Items in the chunk. */
  count: number;
}

/** What bounds one chunk: bytes per item in each storage binding and the device limits. */
export interface ChunkLimits {
  /** Bytes each item occupies in each storage binding it has (the largest one bounds the chunk). */
  bytesPerItem: readonly number[];
  /** The device's `maxStorageBufferBindingSize`, bytes (or a lower test bound). */
  maxStorageBufferBindingSize: number;
  /** Chunk starts are multiples of this many items (keeps binding offsets aligned). */
  itemAlignment?: number;
  /** Items per workgroup; with the limit below bounds the items of one 2-D dispatch. */
  itemsPerWorkgroup?: number;
  /** The device's `maxComputeWorkgroupsPerDimension` (default: no bound from dispatch size). */
  maxComputeWorkgroupsPerDimension?: number;
}

/** Largest item count one dispatch can take under the given limits. */
export function maxItemsPerChunk(limits: ChunkLimits): number {
  const align = limits.itemAlignment ?? 1;
  let cap = Number.MAX_SAFE_INTEGER;
  for (const b of limits.bytesPerItem) {
    if (!(b > 0)) throw new RangeError(`bytes per item must be positive, got ${b}`);
    cap = Math.min(cap, Math.floor(limits.maxStorageBufferBindingSize / b));
  }
  const perDim = limits.maxComputeWorkgroupsPerDimension;
  if (perDim !== undefined) cap = Math.min(cap, perDim * perDim * (limits.itemsPerWorkgroup ?? 1));
  if (cap >= align) cap -= cap % align;
  if (cap < 1 || cap < align) {
    throw new RangeError(
      `one item needs ${Math.max(...limits.bytesPerItem)} bytes, more than maxStorageBufferBindingSize = ${limits.maxStorageBufferBindingSize} allows (with alignment ${align})`,
    );
  }
  return cap;
}

/** Consecutive chunks covering `total` items, each within the limits. */
export function planChunks(total: number, limits: ChunkLimits): Chunk[] {
  if (!Number.isInteger(total) || total < 0) throw new RangeError(`batch size must be a non-negative integer, got ${total}`);
  const cap = maxItemsPerChunk(limits);
  const chunks: Chunk[] = [];
  for (let start = 0; start < total; start += cap) chunks.push({ start, count: Math.min(cap, total - start) });
  return chunks;
}

/**
 * Workgroup grid for `workgroups` workgroups: x up to the per-dimension limit, then rows in y.
 * Kernels recover the linear index as `id.x + id.y * gridX`.
 */
export function dispatchGrid(workgroups: number, maxPerDimension: number): { x: number; y: number } {
  if (workgroups <= 0) return { x: 0, y: 0 };
  const x = Math.min(workgroups, maxPerDimension);
  const y = Math.ceil(workgroups / x);
  if (y > maxPerDimension) {
    throw new RangeError(`${workgroups} workgroups exceed the dispatch limit ${maxPerDimension}² of this device`);
  }
  return { x, y };
}
