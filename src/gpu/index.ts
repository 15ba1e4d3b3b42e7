export { GpuContext, GpuDeviceError, GpuUnavailableError, requestGpuContext } from './context.js';
export type { AdapterDescription, GpuContextOptions } from './context.js';
export { BatchedFft } from './fft.js';
export type { BatchedFftOptions, FftRunResult } from './fft.js';
export { dispatchGrid, maxItemsPerChunk, planChunks } from './chunks.js';
export type { Chunk, ChunkLimits } from './chunks.js';
