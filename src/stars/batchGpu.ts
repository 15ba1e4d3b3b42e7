/**
 * The GPU path of measureStarsBatch: checks the positions, hands the valid ones to
 * StarsGpuBatch (src/gpu/starsBatch.ts) and turns its per-star words into StarMeasurement
 * records with the same fields, flags, statuses and messages as measureStars.
 */
import type { GpuContext } from '../gpu/context.js';
import {
  INFO,
  LM,
  STAGE_NO_BACKGROUND,
  STAGE_NO_PIXELS,
  STAR_INFO_WORDS,
  STAR_LM_WORDS,
  StarsGpuBatch,
  type StarsBatchConfig,
  type StarsBatchTimings,
} from '../gpu/starsBatch.js';
import type { BackgroundMap } from './background.js';
import type { Image } from './image.js';
import { fittedShape, momentShape, newStarMeasurement, StarWorkspace, type StarPosition } from './measure.js';
import { FIT_REASONS, PSF_PARAMS } from './psfModel.js';
import {
  FLAG_FIT_FAILED,
  FLAG_INVALID_POSITION,
  FLAG_NO_BACKGROUND,
  FLAG_NO_SIGNAL,
  FLAG_OUTSIDE,
  FLAG_EDGE,
  FLAG_SATURATED,
  FLAG_NAN_PIXELS,
  type MeasureMethod,
  type MeasureOptions,
  type StarMeasurement,
} from './types.js';


/** The options as the measurement uses them (validated beforehand by FrameMeasurer). */
export interface BatchSettings {
  method: MeasureMethod;
  fwhm: number;
  gain: number;
  annulus: boolean;
  saturation: number;
  beta: number;
  rnFloor: number;
  /** PSF model of the fit, -1 for moments. */
  model: -1 | 0 | 1 | 2 | 3;
}

export function batchSettings(o: MeasureOptions): BatchSettings {
  const method = o.method ?? 'gaussian';
  const gain = o.gain ?? NaN;
  const beta = o.beta ?? NaN;
  const model = method === 'moments' ? -1 : method === 'gaussian' ? 0 : method === 'gaussianRotated' ? 1 : beta > 0 ? 2 : 3;
  return {
    method,
    fwhm: o.fwhm ?? 3,
    gain,
    annulus: o.background === 'annulus',
    saturation: o.saturation ?? Infinity,
    beta,
    rnFloor: gain > 0 ? (o.readNoise ?? 0) / gain : 0,
    model,
  };
}

export interface GpuBatchTuning {
  /** Bytes of one frame band (forces bands on a small frame). */
  maxTileBytes?: number;
  /** Stars per dispatch (forces chunking). */
  maxStarsPerDispatch?: number;
  /** LM iterations per submission. */
  iterationsPerSubmission?: number;
}

export interface GpuBatchRun {
  results: StarMeasurement[];
  /** Milliseconds: upload (frame, sky maps and stars), extraction, fit loop, metrics, read-back and records. */
  timings: StarsBatchTimings & { assembleMs: number; bands: number; chunks: number };
}

/** Measures every position on the GPU; results in input order. */
export async function measureStarsGpu(
  ctx: GpuContext,
  image: Image,
  map: BackgroundMap,
  positions: ArrayLike<StarPosition>,
  s: BatchSettings,
  run: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void; tuning?: GpuBatchTuning },
): Promise<GpuBatchRun> {
  const { width: W, height: H } = image;
  const n = positions.length;
  const results: StarMeasurement[] = new Array<StarMeasurement>(n);
  const gpuIndex = new Int32Array(n).fill(-1);
  const ix = new Int32Array(n);
  const iy = new Int32Array(n);
  const fx = new Float32Array(n);
  const fy = new Float32Array(n);
  let count = 0;
  for (let k = 0; k < n; k++) {
    const { x, y } = positions[k] as StarPosition;
    const r = newStarMeasurement();
    r.id = k;
    r.xInput = x;
    r.yInput = y;
    r.method = s.method;
    results[k] = r;
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      r.flags = FLAG_INVALID_POSITION;
      r.message = `position x = ${x}, y = ${y} is not finite`;
      continue;
    }
    if (x < -0.5 || y < -0.5 || x >= W - 0.5 || y >= H - 0.5) {
      r.flags = FLAG_OUTSIDE;
      r.message = `position x = ${x}, y = ${y} is outside the ${W}×${H} image (pixel centres 0…${W - 1}, 0…${H - 1})`;
      continue;
    }
    // The start pixel travels as an integer and the offset as float32: absolute coordinates
    // would lose 0.002 px of precision on a 16k frame.
    const cx = Math.floor(x + 0.5);
    const cy = Math.floor(y + 0.5);
    ix[count] = cx;
    iy[count] = cy;
    fx[count] = x - cx;
    fy[count] = y - cy;
    gpuIndex[k] = count++;
  }
  const ws = new StarWorkspace(s.fwhm, 'f64');
  const config: StarsBatchConfig = {
    width: W,
    height: H,
    radius: ws.radius,
    annulus: s.annulus,
    model: s.model,
    saturation: s.saturation,
    rnFloor: s.rnFloor,
    poisson: s.gain > 0 ? 1 / s.gain : 0,
    sigmaW: ws.sigmaW,
    sigma0: ws.sigma0,
    beta: s.beta,
    dao: {
      radius: ws.daoRadius,
      tapOffset: ws.daoTapOffset,
      tapWeight: ws.daoTapWeight,
      mask: ws.daoMask,
      marginal: ws.daoMarginal,
      wSum: ws.daoWSum,
      kSum: ws.daoKSum,
      den: ws.daoDen,
    },
    ...run.tuning,
  };
  run.signal?.throwIfAborted();
  const tUp = performance.now();
  const batch = await StarsGpuBatch.create(ctx, config, { count, ix, iy, fx, fy });
  let out;
  let frameUploadMs: number;
  try {
    batch.uploadFrame(image.data, map.background, map.noise);
    frameUploadMs = performance.now() - tUp;
    out = await batch.run({
      ...(run.signal ? { signal: run.signal } : {}),
      onProgress: (done, total) => run.onProgress?.(done + (n - count), total + (n - count)),
    });
  } finally {
    batch.destroy();
  }
  const t0 = performance.now();
  const axes = new Float64Array(3);
  const shape = new Float64Array(5);
  const info = out.info;
  const lm = out.lm;
  const R = ws.radius;
  const np = s.model >= 0 ? (PSF_PARAMS[s.model] as number) : 0;
  for (let k = 0; k < n; k++) {
    const g = gpuIndex[k] as number;
    if (g < 0) continue;
    assemble(results[k] as StarMeasurement, info.subarray(g * STAR_INFO_WORDS, (g + 1) * STAR_INFO_WORDS), lm.subarray(g * STAR_LM_WORDS, (g + 1) * STAR_LM_WORDS), s, R, np, axes, shape);
  }
  const assembleMs = performance.now() - t0;
  return {
    results,
    timings: { ...out.timings, uploadMs: out.timings.uploadMs + frameUploadMs, assembleMs, bands: batch.bands.length, chunks: batch.chunks.length },
  };
}

function bitsU32(v: Float32Array, k: number): number {
  return new Uint32Array(v.buffer, v.byteOffset + 4 * k, 1)[0] as number;
}

function bitsI32(v: Float32Array, k: number): number {
  return new Int32Array(v.buffer, v.byteOffset + 4 * k, 1)[0] as number;
}

/** One record from the star's info and LM words: the tail of measureOne in measure.ts. */
function assemble(res: StarMeasurement, info: Float32Array, lm: Float32Array, s: BatchSettings, R: number, np: number, axes: Float64Array, shape: Float64Array): void {
  const stage = bitsU32(info, INFO.stage);
  let flags = bitsU32(info, INFO.flags);
  const ix = bitsI32(info, INFO.ix);
  const iy = bitsI32(info, INFO.iy);
  if (stage === STAGE_NO_BACKGROUND) {
    res.flags = flags | FLAG_NO_BACKGROUND;
    res.message = `no background estimate at x = ${ix}, y = ${iy}`;
    return;
  }
  res.background = info[INFO.sky] as number;
  res.backgroundNoise = info[INFO.sigma] as number;
  if (stage === STAGE_NO_PIXELS) {
    res.flags = flags | FLAG_NO_SIGNAL;
    res.message = 'no valid pixel in the stamp';
    return;
  }
  if (flags & FLAG_NO_SIGNAL) res.message = 'no positive signal under the moment window';
  let cx = info[INFO.cx] as number;
  let cy = info[INFO.cy] as number;
  let fitted = false;
  shape[0] = NaN;
  shape[1] = NaN;
  shape[2] = NaN;
  let flux = info[INFO.sumFlux] as number;
  if (s.model >= 0) {
    const code = lm[LM.status] as number;
    // A fit still active after the last submission ran out of iterations.
    res.fitReason = FIT_REASONS[code] ?? 'maxIterations';
    res.iterations = lm[LM.iterations] as number;
    const p0 = lm[0] as number;
    const p1 = lm[1] as number;
    if (code === 0 && Math.abs(p0) <= R && Math.abs(p1) <= R) {
      fitted = true;
      cx = p0;
      cy = p1;
      const S = info[INFO.scale] as number;
      const dof = Math.max((lm[LM.pixels] as number) - np, 1);
      res.chi2Reduced = (lm[LM.chi2] as number) / dof;
      // With a gain the weights are absolute inverse variances; without one only relative.
      const scale = s.gain > 0 ? 1 : Math.max(res.chi2Reduced, 0);
      res.xErr = Math.sqrt((lm[LM.varX] as number) * scale);
      res.yErr = Math.sqrt((lm[LM.varY] as number) * scale);
      shape[4] = s.beta;
      fittedShape(s.model, lm, shape, axes);
      flux = (shape[3] as number) * S;
      if (s.model >= 2) res.beta = shape[4] as number;
    } else {
      flags |= FLAG_FIT_FAILED;
      res.message = `${s.method} fit stopped: ${res.fitReason}; position and shape from windowed moments`;
    }
  }
  res.method = fitted ? s.method : 'moments';
  const cxx = info[INFO.cxx] as number;
  if (Number.isFinite(cxx)) {
    axes[0] = cxx;
    axes[1] = info[INFO.cyy] as number;
    axes[2] = info[INFO.cxy] as number;
    // The Moffat model is circular: its shape comes from the moments even when the fit converged.
    momentShape(axes, shape);
  }
  res.x = ix + cx;
  res.y = iy + cy;
  res.flux = flux;
  res.fwhm = shape[0] as number;
  res.eccentricity = shape[1] as number;
  res.theta = shape[2] as number;
  const sig = res.backgroundNoise;
  const fwhmAp = Number.isFinite(res.fwhm) ? res.fwhm : s.fwhm;
  const npix = Math.PI * (1.5 * fwhmAp) ** 2;
  const varF = (s.gain > 0 ? Math.max(flux, 0) / s.gain : 0) + npix * sig * sig;
  res.snr = varF > 0 ? flux / Math.sqrt(varF) : NaN;
  res.peak = info[INFO.peak] as number;
  res.peakCoreRatio = info[INFO.peakCoreRatio] as number;
  res.marginalRoundness = info[INFO.marginalRoundness] as number;
  res.marginalAsymmetry = info[INFO.marginalAsymmetry] as number;
  res.laplacianSnr = info[INFO.laplacianSnr] as number;
  res.sharpness = info[INFO.sharpness] as number;
  res.roundness1 = info[INFO.roundness1] as number;
  res.roundness2 = info[INFO.roundness2] as number;
  res.flags |= flags;
  if (res.flags & FLAG_NO_SIGNAL) res.status = 'failed';
  else res.status = flags & FLAG_FIT_FAILED ? 'fallback' : 'ok';
  if (res.message === '' && res.flags & (FLAG_EDGE | FLAG_SATURATED | FLAG_NAN_PIXELS)) {
    res.message = 'measured without the stamp pixels that are off the image, NaN or saturated';
  }
}
