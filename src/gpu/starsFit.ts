/**
 * The star PSF fit kernel (shaders/stars_fit.wgsl, entry `iterate`) in the build the device
 * runs: `stars_fit/subgroups` (sums in registers, reduced by subgroupAdd) where the device has
 * the `subgroups` feature and WGSL has the `subgroup_id` builtin, else `stars_fit` (a row of
 * workgroup memory per invocation, reduced by a tree). Both builds come from the one source
 * (see scripts/embed-shaders.mjs) and declare the same bindings, so one bind group serves
 * either: 0 params (uniform), 1 stamps, 2 lm, 3 activeCount.
 */
import type { GpuContext } from './context.js';
import { computePipeline } from './pipelines.js';
import { fitParams } from '../stars/psfModel.js';

export interface StarsFitKernel {
  /** PSF model (PSF_* of src/stars/psfModel.ts); its parameter count comes with it (fitParams). */
  model: 0 | 1 | 2 | 3;
  /** Fit the sky slope Bx, By after B (MeasureOptions.skySlope 'fit'). */
  slope?: boolean;
  /** Stamp radius: side 2R + 1. */
  R: number;
  /** Invocations per workgroup: a power of two ≥ 64 (the Gaussian tables use invocations 32…32 + side). */
  wg: number;
}

/**
 * Whether the fit kernel takes its subgroup build on `ctx`. The reduction holds for every
 * subgroup size (rows indexed by subgroup_id, at most one per invocation), so the adapter's
 * subgroup size range does not enter; `subgroup_id` is a WGSL language feature of its own
 * (Chrome 144, Dawn in Node), hence the second test.
 */
export function starsFitUsesSubgroups(ctx: GpuContext): boolean {
  return ctx.hasSubgroups && ctx.gpu.wgslLanguageFeatures?.has('subgroup_id') === true;
}

/** Largest parameter count of any model (shaders/stars_common.wgsl MAXP): the `trial` array. */
const MAXP = 9;

/**
 * Workgroup memory of the fit kernel (shaders/stars_fit.wgsl): the stamp's z and w (f32 each),
 * the reduction rows (NSUM = NP(NP+1)/2 + NP + 1 sums per invocation), the Gaussian tables gx, gy
 * (vec3<f32>, 16-byte stride, one per stamp column/row), the trial parameters and a control word,
 * as the WebGPU limit counts them.
 */
export function starsFitWorkgroupBytes(np: number, R: number, wg: number): number {
  const side = 2 * R + 1;
  const nsum = (np * (np + 1)) / 2 + np + 1;
  // WebGPU counts each workgroup variable rounded up to a multiple of 16 bytes.
  const r16 = (b: number): number => Math.ceil(b / 16) * 16;
  return 2 * r16(4 * side * side) + r16(4 * nsum * wg) + 2 * r16(16 * side) + r16(4 * MAXP) + r16(4);
}

/** The compiled fit kernel for `o` (cached per device like every pipeline). */
export function starsFitPipeline(ctx: GpuContext, o: StarsFitKernel): Promise<GPUComputePipeline> {
  const np = fitParams(o.model, o.slope === true);
  if (!(o.wg >= 64 && (o.wg & (o.wg - 1)) === 0)) throw new RangeError(`workgroup size must be a power of two ≥ 64, got ${o.wg}`);
  // The rotated Gaussian with the sky slope on 31×31 stamps needs 22.8 KB, above WebGPU's default
  // 16 KB: say so by name rather than fail in pipeline validation.
  const bytes = starsFitWorkgroupBytes(np, o.R, o.wg);
  const limit = ctx.limits.maxComputeWorkgroupStorageSize;
  if (bytes > limit) {
    throw new RangeError(
      `the PSF fit of model ${o.model}${o.slope === true ? ' with the sky slope' : ''} on ${2 * o.R + 1}×${2 * o.R + 1} stamps needs ${bytes} bytes of workgroup memory, more than this device's maxComputeWorkgroupStorageSize = ${limit}: use a smaller fwhm, skySlope: 'fixed' or device: 'cpu'`,
    );
  }
  const shader = starsFitUsesSubgroups(ctx) ? 'stars_fit/subgroups' : 'stars_fit';
  return computePipeline(ctx, shader, 'iterate', { MODEL: o.model, NP: np, SLOPE: o.slope === true ? 1 : 0, R: o.R, WG: o.wg });
}
