/// <reference types="@webgpu/types" preserve="true" />
/**
 * `batchfit`: the batched GPU FFT and WebGPU context, the float64 CPU FFT, and the XAFS file
 * readers (HDF5/NeXus, Athena projects). The sciences live in `batchfit/xafs` and `batchfit/stars`.
 *
 * The reference above keeps the WebGPU types (GPUBuffer, GPUDevice…) in the published
 * declarations, so a consumer compiling with `skipLibCheck: false` needs no setting of its own.
 * @packageDocumentation
 */
export { ComplexFftPlan, RealFftPlan, complexFftPlan, realFftPlan, rfft, irfft } from './math/fft.js';
export * from './gpu/index.js';
export { readHdf5, listHdf5Datasets, type ReadHdf5Options, type Hdf5Spectra, type Hdf5DatasetInfo } from './xafs/readHdf5.js';
export { readAthena, listAthenaGroups, type ReadAthenaOptions, type AthenaProject, type AthenaGroup, type AthenaGroupInfo, type AthenaArg } from './xafs/readAthena.js';
