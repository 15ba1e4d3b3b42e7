/// <reference types="@webgpu/types" preserve="true" />
/**
 * `batchfit/stars`: detect, centroid, fit and measure every star of a frame, on the CPU
 * (`measureStars`) or batched on the GPU or all CPU cores (`measureStarsBatch`).
 * Coordinates are zero-based with pixel centres at integers (FITS = ours + 1).
 */
export { readFits, readF32, type Image } from './image.js';
export { readImage, type ImageFile, type ImageFormat } from './readImage.js';
export { readTiff, type TiffRead } from './tiff.js';
export { backgroundGridBatch, type BackgroundBatchOptions } from './backgroundBatch.js';
export { backgroundMap, backgroundGrid, mapFromGrid, skyAt, skyRow, skyRows, skySplines, skySplineCoefficients, type SkySplines, type SkyGrid, sigmaClippedStats, type BackgroundMap, type BackgroundOptions } from './background.js';
export { annulusPlane, planeScratch, type PlaneScratch } from './localSky.js';
export { detectStars, REJECT_SHARPNESS, REJECT_ROUNDNESS, REJECT_NARROW, type DetectOptions, type DetectedStar } from './detect.js';
export { FrameMeasurer, measureStars, newStarMeasurement, stampRadius, type StarPosition, type StarPositions } from './measure.js';
export {
  StarCatalogue,
  STAR_STATUS,
  STATUS_OK,
  STATUS_FALLBACK,
  STATUS_FAILED,
  MEASURE_METHODS,
  NO_FIT_REASON,
  STAR_FLOAT_FIELDS,
  STAR_INT_FIELDS,
  type StarColumns,
  type StarFloatField,
  type StarIntField,
  type FloatColumn,
  type CatalogueMeta,
} from './catalogue.js';
export { createPsfFitter, newFitOutcome, FIT_REASONS, type FitReason, type FitStamp, type FitOutcome, type PsfFitter, type PsfModel, PSF_GAUSSIAN, PSF_GAUSSIAN_ROTATED, PSF_MOFFAT, PSF_MOFFAT_BETA } from './psfFit.js';
export * from './types.js';
export { measureStarsBatch, type BatchOptions } from './measureBatch.js';
export { uploadFrame, GpuStarFrame, type GpuBatchTuning, type UploadFrameOptions } from './batchGpu.js';
