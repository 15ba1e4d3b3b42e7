/**
 * The WebGPU back end of `autobkBatch`.
 *
 * A packed series on one clean energy grid with one e0 (planSeries) takes the series path
 * (autobkSeriesGpu.ts): its setup is a set of linear maps of μ built once, applied on the GPU,
 * and the polish, χ, bkg and χ² are formed there too, so the CPU only copies per spectrum.
 *
 * Every other spectrum (an array of spectra, e0 per spectrum, non-finite μ) takes the
 * per-spectrum path: the float64 setup on the CPU (cleaning, pre_edge when e0 or the edge step
 * is missing, grids, knots, initial coefficients c0, the data part of χ), then per chunk of
 * spectra one GPU submission for the basis columns, the batched FFT of every Jacobian and data
 * column and AᵀA, and the Levenberg–Marquardt loop in lockstep over the chunk
 * (src/gpu/autobkLm.ts). One Gauss–Newton step in float64 on the CPU polishes the returned
 * coefficients, and the final χ, bkg and χ² are evaluated from them in float64.
 *
 * Precision: the GPU works in f32 on δ = c − c0, with the data column window·(χ_data − B·c0)
 * formed in f64, so the per-spectrum constant of μ (which lies in the spline space) cancels in
 * f64 before anything is rounded to f32. Spectra whose setups share grid, knots and window
 * share their basis columns, A and AᵀA.
 */
import { AUTOBK_LM_STATUS, AutobkLm, type AutobkLmChunk, type AutobkLmShape } from '../gpu/autobkLm.js';
import type { GpuContext } from '../gpu/context.js';
import { BatchedFft } from '../gpu/fft.js';
import { evalBasis } from '../math/bspline.js';
import { interpLinear } from '../math/interp.js';
import { invertSpd } from '../math/linalg.js';
import { AUTOBK_RESIDUAL_FT_SCALE, autobkChisqr, autobkGrids, type AutobkCleaning, type AutobkGrids } from './autobk.js';
import type {
  PackedSeries,
  AutobkBatchInput,
  AutobkBatchOptions,
  AutobkBatchResult,
  AutobkBatchRun,
  AutobkBatchSuccess,
  BatchSpectrum,
  BatchTimings,
  ChirSettings,
} from './autobkBatchTypes.js';
import { chirXftfOptions } from './autobkBatchTypes.js';
import { ftwindow } from './ftwindow.js';
import { planSeries, type SeriesPlan } from './autobkSeries.js';
import { fitSeriesOnGpu, gpuSuccess, seriesCapacity } from './autobkSeriesGpu.js';

/** Spectra per chunk unless `maxChunk` says otherwise: bounds the CPU setups held at once. */
const DEFAULT_CHUNK = 4096;
/**
 * Series spectra per chunk unless `maxChunk` says otherwise (the device limits may allow
 * fewer): a series holds no CPU setups, and larger chunks mean fewer LM round trips.
 */
const DEFAULT_SERIES_CHUNK = 16384;
/** LM trials per submission: fewer round trips, at most one wasted trial per converged spectrum. */
const TRIALS_PER_SUBMISSION = 2;
const DEFAULT_MAX_ITERATIONS = 200;
/**
 * Stop when the next step would lower χ² by at most this fraction: far below the CPU's
 * ftol = 1e-6, so the GPU reaches the minimiser that the CPU approaches.
 */
const PREDICTED_REDUCTION_TOL = 1e-10;
const LAMBDA0 = 1e-3;
const GROUP_WORDS = 8;

type Grids = AutobkGrids & AutobkCleaning;

/** The batch as indexable spectra, whichever container it came in. */
function spectrumAt(input: AutobkBatchInput): { count: number; at: (i: number) => BatchSpectrum } {
  if (Array.isArray(input)) {
    const arr = input as readonly BatchSpectrum[];
    return { count: arr.length, at: (i) => arr[i]! };
  }
  const p = input as Exclude<AutobkBatchInput, readonly BatchSpectrum[]>;
  const ne = p.energy.length;
  const count = ne === 0 ? 0 : Math.floor(p.mu.length / ne);
  const pick = (v: number | Float64Array | undefined, i: number): number | undefined => (typeof v === 'number' ? v : v?.[i]);
  return {
    count,
    at: (i) => {
      const s: BatchSpectrum = { energy: p.energy, mu: p.mu.subarray(i * ne, (i + 1) * ne) };
      const e0 = pick(p.e0, i);
      const edgeStep = pick(p.edgeStep, i);
      if (e0 !== undefined) s.e0 = e0;
      if (edgeStep !== undefined) s.edgeStep = edgeStep;
      return s;
    },
  };
}

/** Same k grid, window and knots, hence the same basis columns and A. */
function sameDesign(a: Grids, b: Grids): boolean {
  if (a.nspl !== b.nspl || a.irbkg !== b.irbkg || a.kout.length !== b.kout.length || a.kstep !== b.kstep) return false;
  for (let i = 0; i < a.knots.length; i++) if (a.knots[i] !== b.knots[i]) return false;
  for (let i = 0; i < a.ftwin.length; i++) if (a.ftwin[i] !== b.ftwin[i]) return false;
  return true;
}

interface ChunkEntry {
  index: number;
  grids: Grids;
  group: number;
  /** c0 until the GPU's δ is added, then the solution. */
  coefs: Float64Array;
  /** χ0 on the k grid (work space of packData). */
  chi0: Float64Array;
  /** LM trials. */
  iterations: number;
}

/** Spectra of one chunk grouped by design; groups[g] is the setup that defines group g. */
interface ChunkPlan {
  entries: ChunkEntry[];
  groups: Grids[];
  shape: AutobkLmShape;
}

function emptyShape(nfft: number, nc: number): AutobkLmShape {
  return { nfft, inputLength: 1, nOut: 1, maxCoefs: 1, nc, maxSpectra: 0, maxGroups: 0, maxBasisColumns: 0, indexWords: 0, constFloats: 0 };
}

/** The shape after adding one spectrum (and a new group when `newGroup`). */
function grownShape(s: AutobkLmShape, g: Grids, newGroup: boolean): AutobkLmShape {
  const nk = g.kout.length;
  return {
    ...s,
    inputLength: Math.max(s.inputLength, nk),
    nOut: Math.max(s.nOut, g.irbkg),
    maxCoefs: Math.max(s.maxCoefs, g.nspl),
    maxSpectra: s.maxSpectra + 1,
    maxGroups: s.maxGroups + (newGroup ? 1 : 0),
    maxBasisColumns: s.maxBasisColumns + (newGroup ? g.nspl : 0),
    indexWords: s.indexWords + 2 + (newGroup ? GROUP_WORDS + g.nspl : 0),
    constFloats: s.constFloats + s.nc + (newGroup ? g.nspl + 4 + nk + s.nc * g.nspl + s.nc : 0),
  };
}

function maxShape(a: AutobkLmShape, b: AutobkLmShape): AutobkLmShape {
  const m = (k: Exclude<keyof AutobkLmShape, 'nfft' | 'nc'>): number => Math.max(a[k], b[k]);
  return {
    nfft: a.nfft, nc: a.nc, inputLength: m('inputLength'), nOut: m('nOut'), maxCoefs: m('maxCoefs'), maxSpectra: m('maxSpectra'),
    maxGroups: m('maxGroups'), maxBasisColumns: m('maxBasisColumns'), indexWords: m('indexWords'), constFloats: m('constFloats'),
  };
}

/** Packs a chunk's groups and its spectra's data (at c = c0) for buffers of `shape`. */
function packChunk(plan: ChunkPlan, shape: AutobkLmShape): AutobkLmChunk {
  const { entries, groups } = plan;
  const nc = shape.nc;
  const nSpectra = entries.length;
  const nGroups = groups.length;
  let nBasisColumns = 0;
  for (const g of groups) nBasisColumns += g.nspl;
  const spectraOffset = GROUP_WORDS * nGroups;
  const columnGroupOffset = spectraOffset + 2 * nSpectra;
  const index = new Uint32Array(columnGroupOffset + nBasisColumns);
  let constFloats = nSpectra * nc;
  for (const g of groups) constFloats += g.nspl + 4 + g.kout.length + nc * g.nspl + nc;
  const consts = new Float32Array(constFloats);

  let col = 0;
  let o = 0;
  for (const [gi, g] of groups.entries()) {
    const { nspl, kout, knots, ftwin, basisK, nclamp } = g;
    const nk = kout.length;
    const r = GROUP_WORDS * gi;
    index[r] = nSpectra + col;
    index[r + 1] = nspl;
    index[r + 2] = 2 * g.irbkg;
    index[r + 3] = nk;
    index[r + 4] = o;
    consts.set(knots.subarray(0, nspl + 4), o);
    o += nspl + 4;
    index[r + 5] = o;
    for (let i = 0; i < nk; i++) consts[o + i] = ftwin[i]! * AUTOBK_RESIDUAL_FT_SCALE;
    o += nk;
    index[r + 6] = o;
    for (let q = 0; q < nc; q++) {
      const i = clampIndex(q, nclamp, nk);
      const f = basisK.first[i]!;
      for (let m = 0; m < 4; m++) consts[o + q * nspl + f + m] = basisK.vals[4 * i + m]!;
    }
    o += nc * nspl;
    index[r + 7] = o;
    for (let q = 0; q < nc; q++) consts[o + q] = q < nclamp ? g.clampLo : g.clampHi;
    o += nc;
    for (let j = 0; j < nspl; j++) index[columnGroupOffset + col + j] = gi;
    col += nspl;
  }
  for (const [s, e] of entries.entries()) {
    index[spectraOffset + 2 * s] = e.group;
    index[spectraOffset + 2 * s + 1] = s;
  }
  const dataColumns = new Float32Array(nSpectra * shape.inputLength);
  packData(entries, shape, dataColumns, consts.subarray(o));
  return { nSpectra, nGroups, nBasisColumns, index, spectraOffset, columnGroupOffset, consts, chiEndOffset: o, dataColumns, kstep: groups[0]!.kstep };
}

/**
 * The data of each spectrum at its initial coefficients c0 (`coefs`): window·χ0 into its
 * FFT column and χ0 at the clamp points, with χ0 = χ_data − B·c_ref − χ_std formed in f64.
 */
function packData(entries: ChunkEntry[], shape: AutobkLmShape, dataColumns: Float32Array, chiEnd: Float32Array): void {
  const L = shape.inputLength;
  const nc = shape.nc;
  for (const [s, e] of entries.entries()) {
    const g = e.grids;
    const nk = g.kout.length;
    const x = e.chi0;
    evalBasis(g.basisK, e.coefs, x);
    for (let i = 0; i < nk; i++) x[i] = g.chiData[i]! - x[i]! - (g.chiStd === null ? 0 : g.chiStd[i]!);
    for (let i = 0; i < nk; i++) dataColumns[s * L + i] = g.ftwin[i]! * AUTOBK_RESIDUAL_FT_SCALE * x[i]!;
    for (let q = 0; q < nc; q++) chiEnd[s * nc + q] = x[clampIndex(q, g.nclamp, nk)]!;
  }
}

/** c = c0 + δ for every spectrum of a chunk (δ as read back, vec floats per spectrum). */
function addDelta(entries: ChunkEntry[], delta: Float32Array, vec: number): void {
  for (const [s, e] of entries.entries()) {
    for (let j = 0; j < e.coefs.length; j++) e.coefs[j]! += delta[s * vec + j]!;
  }
}

/** k index of clamp row q: the first nclamp points, then the last nclamp. */
function clampIndex(q: number, nclamp: number, nk: number): number {
  return q < nclamp ? q : nk - 2 * nclamp + q;
}

/**
 * One Gauss–Newton step in float64 from the GPU's solution: the gradient Jᵀr exactly (adjoint
 * DFT, no Fourier design), the normal matrix JᵀJ as the GPU formed it in f32 (its rounding
 * only scales the small step). In f32 the gradient at the minimum is only known to
 * ~ε32·‖A‖·‖r‖, which leaves up to ~2e-4·max|χ| in badly conditioned noisy spectra; this step
 * removes that. Kept only if it lowers χ²; returns the final χ².
 */
function polish(e: ChunkEntry, normal: Float32Array): number {
  const g = e.grids;
  const n = g.nspl;
  const grad = new Float64Array(n);
  const chisqr = autobkChisqr(g, e.coefs, grad);
  const m = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) m[i] = normal[i]!;
  const inv = invertSpd(m, n);
  if (inv === null) return chisqr;
  const trial = Float64Array.from(e.coefs);
  for (let j = 0; j < n; j++) {
    let h = 0;
    for (let k = 0; k < n; k++) h -= inv[j * n + k]! * grad[k]!;
    trial[j]! += h;
  }
  const chisqrTrial = autobkChisqr(g, trial);
  if (!(chisqrTrial < chisqr)) return chisqr;
  e.coefs.set(trial);
  return chisqrTrial;
}

/** Larch's outputs for one spectrum from its final coefficients, in float64. */
function successResult(e: ChunkEntry, chisqr: number, hitMaxIterations: boolean): AutobkBatchSuccess {
  const g = e.grids;
  const { kout, basisK, basisE, iek0, kraw, edgeStep, chiData, mu } = g;
  const coefs = e.coefs;
  const nk = kout.length;
  const chi = new Float64Array(nk);
  evalBasis(basisK, coefs, chi);
  for (let i = 0; i < nk; i++) chi[i] = (chiData[i]! - chi[i]!) / edgeStep;
  const bkg = Float64Array.from(mu);
  evalBasis(basisE, coefs, bkg.subarray(iek0, iek0 + kraw.length));
  return gpuSuccess(g, {
    index: e.index,
    e0: g.e0,
    edgeStep,
    bkg,
    chi,
    coefs,
    initCoefs: g.initCoefs,
    chisqr,
    iterations: e.iterations,
    hitMaxIterations,
  });
}

/** R bins of χ(R) up to rmax (xftf's irmax; the same for every spectrum of a batch). */
function chirBins(options: AutobkBatchOptions, chir: true | ChirSettings): number {
  const xo = chirXftfOptions(options, chir, 0);
  const nfft = xo.nfft!;
  const rstep = Math.PI / (xo.kstep! * nfft);
  return Math.trunc(Math.min(nfft / 2, 1.01 + xo.rmaxOut! / rstep));
}

/**
 * χ(R) of fitted spectra (xftf with chirXftfOptions) through one batched f32 FFT: the weighted,
 * windowed χ(k) is formed in f64 on the CPU as xftf forms it, transformed on the GPU, scaled
 * by kstep/√π.
 */
async function chirOnGpu(fft: BatchedFft, fits: AutobkBatchSuccess[], options: AutobkBatchOptions, chir: true | ChirSettings): Promise<void> {
  const L = fft.inputLength;
  const input = new Float32Array(fits.length * L);
  for (const [s, f] of fits.entries()) {
    const xo = chirXftfOptions(options, chir, f.details.kmax);
    const kstep = xo.kstep!;
    const kmaxData = f.k[f.k.length - 1]!;
    const npts = Math.min(L, Math.trunc(1.01 + kmaxData / kstep));
    const nGrid = Math.trunc(1.01 + Math.max(kmaxData, xo.kmax! + xo.dk2!) / kstep);
    const kg = new Float64Array(nGrid);
    for (let i = 0; i < nGrid; i++) kg[i] = kstep * i;
    const chiG = interpLinear(kg.subarray(0, npts), f.k, f.chi);
    const win = ftwindow(kg, { xmin: xo.kmin!, xmax: xo.kmax!, dx: xo.dk!, dx2: xo.dk2!, window: xo.window! });
    for (let i = 0; i < npts; i++) input[s * L + i] = chiG[i]! * kg[i]! ** xo.kweight! * win[i]!;
  }
  const { spectrum } = await fft.forward(input, fits.length);
  const nr = fft.nOut;
  for (const [s, f] of fits.entries()) {
    const xo = chirXftfOptions(options, chir, f.details.kmax);
    const scale = xo.kstep! / Math.sqrt(Math.PI);
    const rstep = Math.PI / (xo.kstep! * xo.nfft!);
    const r = new Float64Array(nr);
    const re = new Float64Array(nr);
    const im = new Float64Array(nr);
    const mag = new Float64Array(nr);
    for (let m = 0; m < nr; m++) {
      r[m] = rstep * m;
      re[m] = scale * spectrum[2 * (s * nr + m)]!;
      im[m] = scale * spectrum[2 * (s * nr + m) + 1]!;
      mag[m] = Math.hypot(re[m]!, im[m]!);
    }
    f.chir = { r, re, im, mag };
  }
}

/**
 * The series part of a batch (see planSeries), or null when there is none or it does not fit
 * this device; exported so that tests can check which path a batch takes.
 */
export function seriesPlanFor(ctx: GpuContext, input: AutobkBatchInput, options: AutobkBatchOptions, maxChunk: number = DEFAULT_SERIES_CHUNK): SeriesPlan | null {
  if (Array.isArray(input)) return null;
  const plan = planSeries(input as PackedSeries, options);
  if (plan === null || seriesCapacity(ctx, plan, Math.max(1, Math.floor(maxChunk))) === 0) return null;
  return plan;
}

/**
 * Fits every spectrum of a validated batch on the GPU; per-spectrum problems become error
 * results, never exceptions. Rejects only on abort or device loss.
 */
export async function autobkBatchGpu(
  ctx: GpuContext,
  input: AutobkBatchInput,
  options: AutobkBatchOptions,
  run: Pick<AutobkBatchRun, 'onProgress' | 'signal' | 'chir' | 'maxChunk' | 'onTimings'>,
): Promise<AutobkBatchResult[]> {
  const tStart = performance.now();
  const timings: BatchTimings = { setupMs: 0, transformMs: 0, lmMs: 0, readbackMs: 0, totalMs: 0, submissions: 0 };
  const { count, at } = spectrumAt(input);
  const results: AutobkBatchResult[] = new Array(count);
  const chunkLimit = Math.max(1, Math.floor(run.maxChunk ?? DEFAULT_CHUNK));
  const maxIterations = options.lm?.maxfev ?? DEFAULT_MAX_ITERATIONS;
  if (!(Number.isInteger(maxIterations) && maxIterations >= 1)) {
    throw new RangeError(`autobkBatch: lm.maxfev = ${maxIterations} must be a positive integer`);
  }
  const settings = { maxIterations, ptol: PREDICTED_REDUCTION_TOL, lambda0: LAMBDA0 };
  const maxSubmissions = Math.ceil(maxIterations / TRIALS_PER_SUBMISSION);
  const bindingLimit = ctx.limits.maxStorageBufferBindingSize;
  const signal = run.signal;
  let lm: AutobkLm | undefined;
  let chirFft: BatchedFft | undefined;
  const chir = run.chir === undefined || run.chir === false ? null : run.chir;
  let done = 0;
  const progress = (): void => {
    if (done < count) run.onProgress?.({ done, total: count, fraction: done / count });
  };
  const chirOf = async (fits: AutobkBatchSuccess[], nfft: number): Promise<void> => {
    if (chir === null || fits.length === 0) return;
    const t5 = performance.now();
    signal?.throwIfAborted();
    if (chirFft === undefined || chirFft.capacity < fits.length) {
      chirFft?.destroy();
      chirFft = undefined;
      chirFft = await BatchedFft.create(ctx, { n: nfft, nOut: chirBins(options, chir), capacity: Math.max(fits.length, chunkLimit) });
    }
    await chirOnGpu(chirFft, fits, options, chir);
    timings.submissions++;
    timings.transformMs += performance.now() - t5;
  };

  try {
    signal?.throwIfAborted();
    const t0 = performance.now();
    const series = seriesPlanFor(ctx, input, options, run.maxChunk ?? DEFAULT_SERIES_CHUNK);
    timings.setupMs += performance.now() - t0;
    // Spectra fitted one by one, in input order: all, or those the series leaves.
    const rest = series?.rest ?? null;
    const singleCount = rest === null ? count : rest.length;
    const spectrumOf = (p: number): number => (rest === null ? p : rest[p]!);
    if (series !== null) {
      await fitSeriesOnGpu(ctx, input as PackedSeries, series, results, {
        settings, maxSubmissions, trialsPerSubmission: TRIALS_PER_SUBMISSION, maxChunk: run.maxChunk ?? DEFAULT_SERIES_CHUNK,
        ...(signal === undefined ? {} : { signal }), timings,
        onChunk: async (fits) => {
          await chirOf(fits, series.design.grids.nfft);
          done += fits.length;
          progress();
        },
      });
    }

    let next = 0;
    while (next < singleCount) {
      signal?.throwIfAborted();
      // CPU setups until the chunk is full or the next spectrum would overflow a binding.
      const t0 = performance.now();
      let plan: ChunkPlan | undefined;
      while (next < singleCount && (plan === undefined || plan.entries.length < chunkLimit)) {
        const i = spectrumOf(next);
        const sp = at(i);
        let grids: Grids;
        try {
          grids = autobkGrids(sp.energy, sp.mu, {
            ...options,
            ...(sp.e0 === undefined ? {} : { e0: sp.e0 }),
            ...(sp.edgeStep === undefined ? {} : { edgeStep: sp.edgeStep }),
          });
        } catch (err) {
          if (!(err instanceof RangeError)) throw err;
          results[i] = { status: 'error', index: i, device: 'gpu', error: err.message };
          next++;
          done++;
          continue;
        }
        plan ??= { entries: [], groups: [], shape: emptyShape(grids.nfft, 2 * grids.nclamp) };
        const last = plan.groups[plan.groups.length - 1];
        const shared = last !== undefined && sameDesign(last, grids);
        const shape = grownShape(plan.shape, grids, !shared);
        if (plan.entries.length > 0 && AutobkLm.largestBinding(shape) > bindingLimit) break;
        if (!shared) plan.groups.push(grids);
        plan.entries.push({
          index: i, grids, group: plan.groups.length - 1, coefs: Float64Array.from(grids.initCoefs),
          chi0: new Float64Array(grids.kout.length), iterations: 0,
        });
        plan.shape = shape;
        next++;
      }
      timings.setupMs += performance.now() - t0;
      if (plan === undefined) continue;

      const t1 = performance.now();
      if (lm === undefined || !lm.fits(plan.shape)) {
        const shape = lm === undefined ? plan.shape : maxShape(lm.shape, plan.shape);
        lm?.destroy();
        lm = undefined;
        lm = await AutobkLm.create(ctx, shape);
      }
      const chunk = packChunk(plan, lm.shape);
      signal?.throwIfAborted();
      await lm.load(chunk, settings);
      timings.submissions++;
      timings.transformMs += performance.now() - t1;

      const vec = lm.shape.maxCoefs;
      const delta = new Float32Array(plan.entries.length * vec);
      const state = new Uint32Array(4 * plan.entries.length);
      const normal = new Float32Array(plan.entries.length * vec * vec);
      const t2 = performance.now();
      for (let k = 0; k < maxSubmissions; k++) {
        signal?.throwIfAborted();
        timings.submissions++;
        if ((await lm.iterate(TRIALS_PER_SUBMISSION)) === 0) break;
      }
      const t3 = performance.now();
      timings.lmMs += t3 - t2;
      await lm.readSolution(delta, state, normal);
      addDelta(plan.entries, delta, vec);
      for (const [s, e] of plan.entries.entries()) {
        e.iterations = state[4 * s + 2]!;
        const chisqr = polish(e, normal.subarray(s * vec * vec, (s + 1) * vec * vec));
        results[e.index] = successResult(e, chisqr, state[4 * s + 3] === AUTOBK_LM_STATUS.maxIterations);
      }
      timings.readbackMs += performance.now() - t3;
      await chirOf(plan.entries.map((e) => results[e.index] as AutobkBatchSuccess), plan.shape.nfft);
      done += plan.entries.length;
      progress();
    }
  } finally {
    lm?.destroy();
    chirFft?.destroy();
  }
  run.onProgress?.({ done: count, total: count, fraction: 1 });
  timings.totalMs = performance.now() - tStart;
  run.onTimings?.(timings);
  return results;
}
