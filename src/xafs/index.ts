/// <reference types="@webgpu/types" preserve="true" />
/**
 * `batchfit/xafs`: Larch's XAFS processing (readSpectrum, findE0, preEdge, autobk, xftf/xftr,
 * ftwindow) on the CPU, with the AUTOBK building blocks the batched GPU path reuses, autobkBatch
 * for whole batches on the GPU or on all CPU cores, and readers of HDF5/NeXus files and Athena
 * projects. The reference above keeps the WebGPU types in the published declarations.
 * @packageDocumentation
 */
export { readSpectrum, MuExpressionError, MU_EXPRESSION_MAX_DEPTH, MU_EXPRESSION_MAX_LENGTH, parseDecimal, type ReadSpectrumOptions, type Spectrum } from './readSpectrum.js';
export { findE0, findE0Clean, findEnergyStep, lorentzianSmooth } from './findE0.js';
export { preEdge, type EdgeFit, type PreEdgeOptions, type PreEdgeResult } from './preEdge.js';
export {
  autobk,
  autobkSetup,
  autobkGrids,
  autobkChisqr,
  autobkSolve,
  autobkResult,
  fourierDesign,
  AutobkProblem,
  AutobkReducedProblem,
  AUTOBK_LM_DEFAULTS,
  AUTOBK_RESIDUAL_FT_SCALE,
  type AutobkOptions,
  type AutobkSetup,
  type AutobkGrids,
  type AutobkCleaning,
  type AutobkSolution,
  type AutobkResult,
  type AutobkDetails,
  type FourierFactor,
} from './autobk.js';
// Types that appear in the signatures above (solver settings and results, spline bases).
export type { LevenbergMarquardt, LeastSquaresProblem, LmOptions, LmResult } from '../math/levenbergMarquardt.js';
export type { SplineBasis } from '../math/bspline.js';
export { xftf, xftr, xftfFast, xftrFast, type XftfOptions, type XftfResult, type XftrOptions, type XftrResult } from './xft.js';
export { ftwindow, besselI0, type FtWindowOptions, type WindowName } from './ftwindow.js';
export { ETOK, KTOE, TINY_ENERGY, cleanSpectrum, removeDups, energyToK, type CleanSpectrum } from './xafsUtils.js';
export { autobkBatch } from './autobkBatch.js';
export { AutobkBatchResults, AUTOBK_STATUS, type AutobkColumns, type AutobkStatusName } from './autobkBatchResults.js';
export { edgeStepMap, type EdgeStepMap } from './edgeStepMap.js';
export {
  chirXftfOptions,
  type AutobkBatchInput,
  type AutobkBatchOptions,
  type AutobkBatchRun,
  type AutobkBatchResult,
  type AutobkBatchSuccess,
  type AutobkBatchFailure,
  type AutobkBatchDetails,
  type BatchSpectrum,
  type PackedSeries,
  type SeriesStream,
  type BatchProgress,
  type BatchTimings,
  type ChirSettings,
} from './autobkBatchTypes.js';
export { readAthena, listAthenaGroups, type ReadAthenaOptions, type AthenaProject, type AthenaGroup, type AthenaGroupInfo, type AthenaArg } from './readAthena.js';
export { readHdf5, listHdf5Datasets, type ReadHdf5Options, type Hdf5Spectra, type Hdf5DatasetInfo } from './readHdf5.js';
