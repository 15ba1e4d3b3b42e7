/**
 * The series path of the GPU back end: the spectra of a packed series with one e0 (planSeries)
 * are fitted with the shared maps of autobkSeries.ts on src/gpu/autobkSeries.ts. The CPU's work
 * per spectrum is copying: μ rows go up as raw float64 words (no copy when the chunk's rows are
 * contiguous), and the read-back planes become views into a few packed Float64Arrays per chunk
 * (bkg = μ − (μ − bkg) on the fitted points, the coefficients plus μ[iek0]).
 */
import { AUTOBK_LM_STATUS, type AutobkLmSettings } from '../gpu/autobkLm.js';
import { AutobkSeriesGpu, type AutobkSeriesOutput } from '../gpu/autobkSeries.js';
import type { GpuContext } from '../gpu/context.js';
import type { AutobkBatchResult, AutobkBatchSuccess, BatchTimings, PackedSeries } from './autobkBatchTypes.js';
import type { AutobkCleaning, AutobkGrids } from './autobk.js';
import type { SeriesPlan } from './autobkSeries.js';

export interface SeriesRun {
  settings: AutobkLmSettings;
  maxSubmissions: number;
  trialsPerSubmission: number;
  /** Most spectra per chunk (the device limits may allow fewer). */
  maxChunk: number;
  signal?: AbortSignal;
  timings: BatchTimings;
  /** Called after each chunk with its results (already stored in `results`). */
  onChunk: (fits: AutobkBatchSuccess[]) => Promise<void> | void;
}

/** Chunk size limit; 0 when the series does not fit this device (the caller fits it spectrum by spectrum). */
export function seriesCapacity(ctx: GpuContext, plan: SeriesPlan, maxChunk: number): number {
  return AutobkSeriesGpu.capacityFor(ctx, plan.design, Math.min(maxChunk, plan.indices.length));
}

/** Fits the series spectra of `plan` into results[index]; rejects only on abort or device loss. */
export async function fitSeriesOnGpu(
  ctx: GpuContext,
  input: PackedSeries,
  plan: SeriesPlan,
  results: AutobkBatchResult[],
  run: SeriesRun,
): Promise<void> {
  const { design, indices, edgeSteps } = plan;
  const { ne } = design;
  const capacity = seriesCapacity(ctx, plan, run.maxChunk);
  if (capacity === 0) throw new RangeError('autobk series: does not fit this device');
  const timings = run.timings;
  const t0 = performance.now();
  const gpu = await AutobkSeriesGpu.create(ctx, design, capacity, run.settings);
  timings.transformMs += performance.now() - t0;
  const mu = input.mu;
  const direct = mu instanceof Float64Array;
  const staging = new Float64Array(capacity * ne);
  const stagingWords = new Uint32Array(staging.buffer);
  const invEdge = new Float32Array(capacity);
  const target = new Float32Array(AutobkSeriesGpu.outputFloats(design, capacity));
  try {
    for (let c0 = 0; c0 < indices.length; c0 += capacity) {
      run.signal?.throwIfAborted();
      const n = Math.min(capacity, indices.length - c0);
      const first = indices[c0]!;
      const contiguous = indices[c0 + n - 1]! - first === n - 1;
      const t1 = performance.now();
      let words: Uint32Array;
      if (direct && contiguous) {
        words = new Uint32Array(mu.buffer, mu.byteOffset + first * ne * 8, 2 * n * ne);
      } else {
        for (let s = 0; s < n; s++) staging.set(mu.subarray(indices[c0 + s]! * ne, (indices[c0 + s]! + 1) * ne), s * ne);
        words = stagingWords;
      }
      for (let s = 0; s < n; s++) invEdge[s] = 1 / edgeSteps[c0 + s]!;
      timings.setupMs += performance.now() - t1;

      const t2 = performance.now();
      await gpu.load(words, invEdge, n, run.settings);
      timings.submissions++;
      const t3 = performance.now();
      timings.transformMs += t3 - t2;
      for (let k = 0; k < run.maxSubmissions; k++) {
        run.signal?.throwIfAborted();
        timings.submissions++;
        if ((await gpu.iterate(run.trialsPerSubmission)) === 0) break;
      }
      const t4 = performance.now();
      timings.lmMs += t4 - t3;
      run.signal?.throwIfAborted();
      const out = await gpu.finish(target);
      timings.submissions++;

      const fits = seriesResults(input, plan, c0, n, out);
      for (const fit of fits) results[fit.index] = fit;
      timings.readbackMs += performance.now() - t4;
      await run.onChunk(fits);
    }
  } finally {
    gpu.destroy();
  }
}

/**
 * The results of series spectra indices[c0 .. c0 + n) from one chunk's read-back: packed
 * float64 arrays per chunk, each spectrum's arrays views into them. The only per-spectrum
 * arithmetic on the CPU: bkg = μ − (μ − bkg) on the fitted points and the coefficients plus μ[iek0].
 */
export function seriesResults(input: PackedSeries, plan: SeriesPlan, c0: number, n: number, out: AutobkSeriesOutput): AutobkBatchSuccess[] {
  const { design, indices, edgeSteps, e0 } = plan;
  const g = design.grids;
  const { ne, nk, nFit, nspl, iek0 } = design;
  const mu = input.mu;
  const first = indices[c0]!;
  const contiguous = indices[c0 + n - 1]! - first === n - 1;
  const chiAll = new Float64Array(n * nk);
  chiAll.set(out.chi.subarray(0, n * nk));
  const bkgAll = new Float64Array(n * ne);
  if (contiguous) bkgAll.set(mu.subarray(first * ne, (first + n) * ne));
  else for (let s = 0; s < n; s++) bkgAll.set(mu.subarray(indices[c0 + s]! * ne, (indices[c0 + s]! + 1) * ne), s * ne);
  const coefAll = new Float64Array(2 * n * nspl);
  const fits: AutobkBatchSuccess[] = new Array(n);
  const d = out.muMinusBkg;
  for (let s = 0; s < n; s++) {
    const bkg = bkgAll.subarray(s * ne, (s + 1) * ne);
    const muRef = bkg[iek0]!;
    for (let i = 0; i < nFit; i++) bkg[iek0 + i]! -= d[s * nFit + i]!;
    const coefs = coefAll.subarray(2 * s * nspl, (2 * s + 1) * nspl);
    const initCoefs = coefAll.subarray((2 * s + 1) * nspl, (2 * s + 2) * nspl);
    for (let j = 0; j < nspl; j++) {
      coefs[j] = muRef + out.coefs[s * nspl + j]!;
      initCoefs[j] = muRef + out.initCoefs[s * nspl + j]!;
    }
    fits[s] = gpuSuccess(g, {
      index: indices[c0 + s]!,
      e0,
      edgeStep: edgeSteps[c0 + s]!,
      bkg,
      chi: chiAll.subarray(s * nk, (s + 1) * nk),
      coefs,
      initCoefs,
      chisqr: out.misc[4 * s]!,
      iterations: out.misc[4 * s + 1]!,
      hitMaxIterations: out.misc[4 * s + 2] === AUTOBK_LM_STATUS.maxIterations,
    });
  }
  return fits;
}

/** What one GPU fit produced beside its grids. */
export interface GpuFitOutcome {
  index: number;
  e0: number;
  edgeStep: number;
  bkg: Float64Array;
  chi: Float64Array;
  coefs: Float64Array;
  initCoefs: Float64Array;
  chisqr: number;
  iterations: number;
  hitMaxIterations: boolean;
}

/** The result record of a GPU fit (series or per-spectrum grids alike): Larch's outputs and details. */
export function gpuSuccess(g: AutobkGrids & AutobkCleaning, f: GpuFitOutcome): AutobkBatchSuccess {
  const dof = 2 * g.irbkg + 2 * g.nclamp - g.nspl;
  return {
    status: f.hitMaxIterations ? 'max-iterations' : 'converged',
    index: f.index,
    device: 'gpu',
    energy: g.energy,
    e0: f.e0,
    edgeStep: f.edgeStep,
    bkg: f.bkg,
    k: g.kout,
    chi: f.chi,
    details: {
      nspl: g.nspl,
      irbkg: g.irbkg,
      kmin: g.kmin,
      kmax: g.kmax,
      rbkg: g.rbkg,
      knots: g.knots,
      initCoefs: f.initCoefs,
      coefs: f.coefs,
      chisqr: f.chisqr,
      redchi: dof > 0 ? f.chisqr / dof : NaN,
      iterations: f.iterations,
      nfev: f.iterations + 1,
      warnings: g.warnings,
    },
  };
}
