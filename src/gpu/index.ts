export { GpuContext, GpuDeviceError, GpuUnavailableError, requestGpuContext } from './context.js';
export type { AdapterDescription, GpuContextOptions } from './context.js';
export { BatchedFft } from './fft.js';
export type { BatchedFftOptions, FftRunResult } from './fft.js';
export { dispatchGrid, maxItemsPerChunk, planChunks } from './chunks.js';
export type { Chunk, ChunkLimits } from './chunks.js';
export { AUTOBK_LM_STATUS, AutobkLm } from './autobkLm.js';
export type { AutobkLmChunk, AutobkLmSettings, AutobkLmShape } from './autobkLm.js';
