/**
 * The WebGPU back end of `autobkBatch`.
 *
 * A packed or streamed series on one clean energy grid with one e0 (planSeries) takes the series
 * path (autobkSeriesGpu.ts): its setup is a set of linear maps of μ built once, applied on the
 * GPU with the edge step, the polish, χ and χ², and the host only moves bytes.
 *
 * Every other spectrum (a list of spectra, e0 per spectrum) takes the per-spectrum path: the
 * float64 setup on the CPU (cleaning, pre_edge when e0 or the edge step is missing, grids,
 * knots, initial coefficients c0, the data part of χ), then per chunk of spectra one GPU
 * submission for the basis columns, the batched FFT of every Jacobian and data column and AᵀA,
 * and the Levenberg–Marquardt loop in lockstep over the chunk (src/gpu/autobkLm.ts). One
 * Gauss–Newton step in float64 on the CPU polishes the returned coefficients, and χ, bkg and χ²
 * are evaluated from them in float64 into the chunk's result columns.
 *
 * Precision: the GPU works in f32 on δ = c − c0, with the data column window·(χ_data − B·c0)
 * formed in f64, so the per-spectrum constant of μ (which lies in the spline space) cancels in
 * f64 before anything is rounded to f32. Spectra whose setups share grid, knots and window
 * share their basis columns, A and AᵀA.
 */
import { AUTOBK_LM_STATUS, AutobkLm, type AutobkLmChunk, type AutobkLmShape } from '../gpu/autobkLm.js';
import { AutobkSeriesGpu } from '../gpu/autobkSeries.js';
import type { GpuContext } from '../gpu/context.js';
import { BatchedFft } from '../gpu/fft.js';
import { evalBasis } from '../math/bspline.js';
import { invertSpd } from '../math/linalg.js';
import { AUTOBK_RESIDUAL_FT_SCALE, autobkChisqr, autobkGrids, type AutobkCleaning, type AutobkGrids } from './autobk.js';
import { planeShape, seriesBlocks, valueAt, type Batch } from './autobkBatchInput.js';
import {
  allocateColumns,
  ResultSink,
  padRow,
  sliceColumns,
  knotWidth,
  STATUS_ERROR,
  writeFitScalars,
  type AutobkBatchResults,
  type AutobkColumns,
  type AutobkPlaneShape,
  type OwnRow,
  WarningTable,
} from './autobkBatchResults.js';
import { chirBins, chirXftfOptions, MAX_GPU_EDGE_STEP, type AutobkBatchOptions, type AutobkBatchRun, type BatchSpectrum, type BatchTimings, type ChirSettings } from './autobkBatchTypes.js';
import { checkFitFinite } from './validate.js';
import { ftwindow } from './ftwindow.js';
import { planSeries, seriesE0 } from './autobkSeries.js';
import { chirOnGpu, fitSeriesOnGpu } from './autobkSeriesGpu.js';
import { E0_GIVEN, STEP_GIVEN, autobkChunkHandler } from './autobkWorker.js';

/** The warning of a spectrum over MAX_GPU_EDGE_STEP, fitted on the CPU. */
export const CPU_FALLBACK_WARNING = `fitted on the CPU in float64: an edge step beyond ${MAX_GPU_EDGE_STEP} (μ in large units) weighs Larch's clamp terms beyond what the GPU's float32 resolves`;

/** Spectra per chunk unless `maxChunk` says otherwise: bounds the CPU setups held at once. */
const DEFAULT_CHUNK = 4096;
/**
 * Series spectra per chunk unless `maxChunk` says otherwise (the device limits may allow
 * fewer): a series holds no CPU setups, and larger chunks mean fewer submissions in all. A
 * streamed series takes a quarter: its in-flight memory is what bounds a long run (per slot the
 * μ buffer, its upload staging, the result planes and their read-back, ~16 KB per 645-point
 * spectrum, all host memory on a software adapter, plus the caller's blocks the chunks still
 * refer to), and 4096 spectra still fill a large GPU.
 */
const DEFAULT_SERIES_CHUNK = 16384;
const DEFAULT_STREAM_CHUNK = 4096;
/** LM trials per submission on the per-spectrum path. */
const TRIALS_PER_SUBMISSION = 2;
/**
 * Series path: trials in a chunk's first submission (most noisy quick scans converge within a
 * few), doubled by each later one, so maxfev = 200 takes at most 6 count read-backs.
 */
const SERIES_FIRST_TRIALS = 8;
/** Series chunks in flight (buffer sets): one waiting on its count while the next runs. */
const SERIES_SLOTS = 2;
const DEFAULT_MAX_ITERATIONS = 200;
/**
 * Stop when the next step would lower χ² by at most this fraction: far below the CPU's
 * ftol = 1e-6, so the GPU reaches the minimiser that the CPU approaches.
 */
const PREDICTED_REDUCTION_TOL = 1e-10;
const LAMBDA0 = 1e-3;
const GROUP_WORDS = 8;

type Grids = AutobkGrids & AutobkCleaning;

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

/** Larch's outputs for one spectrum from its final coefficients, in float64, into row i of `out`. */
function writeFit(out: AutobkColumns, i: number, e: ChunkEntry, chisqr: number, hitMaxIterations: boolean, ownEnergy: boolean): void {
  const g = e.grids;
  const { kout, basisK, basisE, iek0, kraw, edgeStep, chiData, mu, nspl } = g;
  const coefs = e.coefs;
  const nk = kout.length;
  const chi = out.chi.subarray(i * out.kWidth, i * out.kWidth + nk);
  evalBasis(basisK, coefs, chi);
  for (let j = 0; j < nk; j++) chi[j] = (chiData[j]! - chi[j]!) / edgeStep;
  const row = out.rowOffsets[i]!;
  const bkg = out.bkg!.subarray(row, row + mu.length);
  bkg.set(mu);
  evalBasis(basisE, coefs, bkg.subarray(iek0, iek0 + kraw.length));
  checkFitFinite('autobk', 'chi', chi, nspl);
  checkFitFinite('autobk', 'bkg', bkg, nspl);
  if (ownEnergy) out.energy!.set(g.energy, row);
  out.coefs.set(coefs, i * out.coefWidth);
  out.initCoefs.set(g.initCoefs, i * out.coefWidth);
  out.knots.set(g.knots.subarray(0, nspl + 4), i * knotWidth(out.coefWidth));
  writeFitScalars(out, i, g, g.e0, edgeStep, chisqr, e.iterations, hitMaxIterations, nk, mu.length, ownEnergy);
}

/** The windows of xftf for χ(R) (k-weight times window on the k grid) of a fitted kmax, cached by kmax. */
function chirWeights(options: AutobkBatchOptions, chir: true | ChirSettings, nk: number): (kmax: number) => Float64Array {
  const cache = new Map<number, Float64Array>();
  return (kmax) => {
    let w = cache.get(kmax);
    if (w === undefined) {
      const xo = chirXftfOptions(options, chir, kmax);
      const kstep = xo.kstep!;
      const k = new Float64Array(nk);
      for (let i = 0; i < nk; i++) k[i] = kstep * i;
      const win = ftwindow(k, { xmin: xo.kmin!, xmax: xo.kmax!, dx: xo.dk!, dx2: xo.dk2!, window: xo.window! });
      w = new Float64Array(nk);
      for (let i = 0; i < nk; i++) w[i] = k[i]! ** xo.kweight! * win[i]!;
      cache.set(kmax, w);
    }
    return w;
  };
}

/** Spectra of a batch as indexable items: a list, or rows of a series block from batch index `start`. */
interface SpectrumSource {
  start: number;
  count: number;
  at(i: number): BatchSpectrum;
  /** Whether every spectrum has its own grid (a list): then bkg rows come with energy rows. */
  list: boolean;
}

function sourcesOf(batch: Batch, blockRows: number): AsyncIterable<SpectrumSource> {
  if (batch.kind === 'list') {
    const spectra = batch.spectra;
    return (async function* () {
      yield { start: 0, count: spectra.length, at: (i: number) => spectra[i]!, list: true };
    })();
  }
  const series = batch.series;
  const ne = series.energy.length;
  return (async function* () {
    for await (const block of seriesBlocks(batch, blockRows)) {
      const mu = block.mu;
      yield {
        start: block.start,
        count: mu.length / ne,
        list: false,
        at: (i: number): BatchSpectrum => {
          const e0 = valueAt(series.e0, block.start + i);
          const edgeStep = valueAt(series.edgeStep, block.start + i);
          return {
            energy: series.energy, mu: mu.subarray(i * ne, (i + 1) * ne),
            ...(e0 === undefined ? {} : { e0 }), ...(edgeStep === undefined ? {} : { edgeStep }),
          };
        },
      };
    }
  })();
}

/**
 * Fits every spectrum of a validated batch on the GPU into columnar results; per-spectrum
 * problems become error rows, never exceptions. Rejects only on abort or device loss.
 */
export async function autobkBatchGpu(
  ctx: GpuContext,
  batch: Batch,
  options: AutobkBatchOptions,
  run: Pick<AutobkBatchRun, 'onProgress' | 'signal' | 'chir' | 'maxChunk' | 'onTimings' | 'onChunk' | 'retain'>,
  t0: number,
): Promise<AutobkBatchResults> {
  const timings: BatchTimings = { setupMs: 0, transformMs: 0, lmMs: 0, readbackMs: 0, totalMs: 0, submissions: 0 };
  const maxIterations = options.lm?.maxfev ?? DEFAULT_MAX_ITERATIONS;
  if (!(Number.isInteger(maxIterations) && maxIterations >= 1)) {
    throw new RangeError(`autobkBatch: lm.maxfev = ${maxIterations} must be a positive integer`);
  }
  if (run.maxChunk !== undefined && !(Number.isInteger(run.maxChunk) && run.maxChunk >= 1)) {
    throw new RangeError(`autobkBatch: maxChunk = ${run.maxChunk} must be a positive integer`);
  }
  const settings = { maxIterations, ptol: PREDICTED_REDUCTION_TOL, lambda0: LAMBDA0 };
  const chir = run.chir === undefined || run.chir === false ? null : run.chir;
  const retain = run.retain ?? run.onChunk === undefined;
  const total = batch.n;
  const progress = (done: number): void => {
    if (total === null || done < total) run.onProgress?.({ done, total: total ?? done, fraction: total === null ? NaN : done / total });
  };
  const kstep = options.kstep ?? 0.05;
  let chirFft: BatchedFft | undefined;
  // χ(R) through the batched FFT, its buffers grown to the largest chunk seen.
  const chirOf = async (columns: AutobkColumns, at: number, n: number, nfft: number, fitted: (row: number) => boolean): Promise<void> => {
    if (chir === null) return;
    run.signal?.throwIfAborted();
    const t5 = performance.now();
    if (chirFft === undefined || chirFft.capacity < n) {
      chirFft?.destroy();
      chirFft = undefined;
      chirFft = await BatchedFft.create(ctx, { n: nfft, nOut: chirBins(options, chir), capacity: n });
    }
    const weightsOf = chirWeights(options, chir, columns.kWidth);
    await chirOnGpu(chirFft, columns, at, n, kstep, (row) => (fitted(row) ? weightsOf(columns.kmax[row]!) : null));
    timings.submissions++;
    timings.transformMs += performance.now() - t5;
  };
  const rGrid = (nfft: number): Float64Array | null => {
    if (chir === null) return null;
    const xo = chirXftfOptions(options, chir, 0);
    const r = new Float64Array(chirBins(options, chir));
    for (let i = 0; i < r.length; i++) r[i] = (Math.PI / (xo.kstep! * nfft)) * i;
    return r;
  };

  try {
    run.signal?.throwIfAborted();
    if (batch.kind !== 'list') {
      const e0 = seriesE0(batch.series.e0);
      const tPlan = performance.now();
      const design = e0 === null ? null : planSeries(batch.series.energy, e0, options, batch.series.edgeStep !== undefined);
      timings.setupMs += performance.now() - tPlan;
      const maxChunk = run.maxChunk ?? (batch.kind === 'stream' ? DEFAULT_STREAM_CHUNK : DEFAULT_SERIES_CHUNK);
      if (design !== null && AutobkSeriesGpu.capacityFor(ctx, design, maxChunk) > 0) {
        const shape: AutobkPlaneShape = { kWidth: design.nk, coefWidth: design.nspl, nr: chir === null ? 0 : chirBins(options, chir), rows: design.ne };
        const packed = batch.kind === 'packed';
        // A packed series keeps its μ, from which bkg is formed on demand; a stream's blocks go, so bkg is formed as they pass.
        const sink = new ResultSink(total, shape, retain, { device: 'gpu', kstep, energy: batch.series.energy, r: rGrid(design.grids.nfft) }, run.onChunk, { bkg: !packed, ownEnergy: false, pad: false });
        await fitSeriesOnGpu(ctx, batch, design, e0!, options, chir, shape, sink, {
          settings, firstTrials: SERIES_FIRST_TRIALS, maxChunk, slots: SERIES_SLOTS, timings, t0,
          chir: chir === null ? null : (columns, at, n) => chirOf(columns, at, n, design.grids.nfft, (row) => columns.status[row] !== STATUS_ERROR),
          onProgress: progress,
          ...(run.signal === undefined ? {} : { signal: run.signal }),
        });
        const ne = design.ne;
        const mu = batch.series.mu;
        const result = sink.finish(packed && retain ? { rowOf: (i) => (mu as Float64Array | Float32Array).subarray(i * ne, (i + 1) * ne), iek0: design.iek0, nFit: design.nFit, basisE: design.basisE } : null);
        return finish(result);
      }
    }

    const shape = planeShape(batch, options, chir);
    const sink = new ResultSink(total, shape, retain, { device: 'gpu', kstep, energy: batch.kind === 'list' ? null : batch.series.energy, r: rGrid(options.nfft ?? 2048) }, run.onChunk, { ownEnergy: batch.kind === 'list' });
    const chunkLimit = run.maxChunk ?? DEFAULT_CHUNK;
    let lm: AutobkLm | undefined;
    try {
      for await (const source of sourcesOf(batch, chunkLimit)) {
        lm = await fitSpectraOnGpu(ctx, source, options, settings, chunkLimit, shape, sink, lm, timings, run.signal, async (columns, n, nfft) => {
          await chirOf(columns, 0, n, nfft, (row) => columns.status[row] !== STATUS_ERROR);
        }, progress);
      }
    } finally {
      lm?.destroy();
    }
    return finish(sink.finish());
  } finally {
    chirFft?.destroy();
  }

  function finish(result: AutobkBatchResults): AutobkBatchResults {
    run.onProgress?.({ done: result.count, total: result.count, fraction: 1 });
    timings.totalMs = performance.now() - t0;
    run.onTimings?.(timings);
    return result;
  }
}

/**
 * The per-spectrum path over one source: chunks of CPU setups, one GPU load and LM loop per
 * chunk, the float64 polish and outputs into the chunk's columns, delivered to the sink in
 * order. Returns the AutobkLm (grown as needed) for the next source.
 */
async function fitSpectraOnGpu(
  ctx: GpuContext,
  source: SpectrumSource,
  options: AutobkBatchOptions,
  settings: { maxIterations: number; ptol: number; lambda0: number },
  chunkLimit: number,
  shape: AutobkPlaneShape,
  sink: ResultSink,
  lmIn: AutobkLm | undefined,
  timings: BatchTimings,
  signal: AbortSignal | undefined,
  chirOf: (columns: AutobkColumns, n: number, nfft: number) => Promise<void>,
  progress: (done: number) => void,
): Promise<AutobkLm | undefined> {
  let lm = lmIn;
  const maxSubmissions = Math.ceil(settings.maxIterations / TRIALS_PER_SUBMISSION);
  const bindingLimit = ctx.limits.maxStorageBufferBindingSize;
  const target = sink.target;
  let next = 0;
  while (next < source.count) {
    signal?.throwIfAborted();
    // CPU setups until the chunk is full or the next spectrum would overflow a binding.
    const t0 = performance.now();
    const first = next;
    const errors: [number, string][] = [];
    // Spectra fitted on the CPU (MAX_GPU_EDGE_STEP), by local index.
    const onHost: number[] = [];
    let plan: ChunkPlan | undefined;
    const local: number[] = [];
    while (next < source.count && (plan === undefined || plan.entries.length < chunkLimit)) {
      const sp = source.at(next);
      let grids: Grids;
      try {
        grids = autobkGrids(sp.energy, sp.mu, {
          ...options,
          ...(sp.e0 === undefined ? {} : { e0: sp.e0 }),
          ...(sp.edgeStep === undefined ? {} : { edgeStep: sp.edgeStep }),
        });
        if (!AutobkLm.fitsWorkgroup(ctx, grids.nspl, 2 * grids.irbkg, 2 * grids.nclamp)) {
          throw new RangeError(`autobk: nknots = ${grids.nspl} is more than this GPU's workgroup memory holds; use device: 'cpu'`);
        }
      } catch (err) {
        // Bad options and bad data are each spectrum's error (wrong types are TypeErrors), as on the CPU.
        if (!(err instanceof RangeError || err instanceof TypeError)) throw err;
        errors.push([next - first, err.message]);
        next++;
        continue;
      }
      if (!(Math.abs(grids.edgeStep) <= MAX_GPU_EDGE_STEP)) {
        onHost.push(next - first);
        next++;
        continue;
      }
      plan ??= { entries: [], groups: [], shape: emptyShape(grids.nfft, 2 * grids.nclamp) };
      const last = plan.groups[plan.groups.length - 1];
      const shared = last !== undefined && sameDesign(last, grids);
      const grown = grownShape(plan.shape, grids, !shared);
      if (plan.entries.length > 0 && AutobkLm.largestBinding(grown) > bindingLimit) break;
      if (!shared) plan.groups.push(grids);
      plan.entries.push({
        index: next, grids, group: plan.groups.length - 1, coefs: Float64Array.from(grids.initCoefs),
        chi0: new Float64Array(grids.kout.length), iterations: 0,
      });
      local.push(next - first);
      plan.shape = grown;
      next++;
    }
    timings.setupMs += performance.now() - t0;
    const n = next - first;
    const columns = target !== null ? sliceColumns(target, source.start + first, n) : allocateColumns(shape, source.start + first, n, { ownEnergy: source.list });
    const warnings = new WarningTable();
    const ids = new Uint16Array(n);
    const ownEnergies: OwnRow[] = [];

    if (plan !== undefined) {
      const t1 = performance.now();
      if (lm === undefined || !lm.fits(plan.shape)) {
        const grownShape = lm === undefined ? plan.shape : maxShape(lm.shape, plan.shape);
        lm?.destroy();
        lm = undefined;
        lm = await AutobkLm.create(ctx, grownShape);
      }
      const chunk = packChunk(plan, lm.shape);
      signal?.throwIfAborted();
      lm.load(chunk, settings);
      timings.submissions++;
      timings.transformMs += performance.now() - t1;

      const vec = lm.shape.maxCoefs;
      const m = plan.entries.length;
      const delta = new Float32Array(m * vec);
      const state = new Uint32Array(4 * m);
      const normal = new Float32Array(m * vec * vec);
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
        const i = local[s]!;
        e.iterations = state[4 * s + 2]!;
        const chisqr = polish(e, normal.subarray(s * vec * vec, (s + 1) * vec * vec));
        const g = e.grids;
        const cleaned = g.droppedNonFinite > 0 || g.sorted || g.separatedDuplicates > 0;
        try {
          writeFit(columns, i, e, chisqr, state[4 * s + 3] === AUTOBK_LM_STATUS.maxIterations, source.list);
        } catch (err) {
          // A fit whose spline overflowed is that spectrum's error (checkFitFinite), as on the CPU.
          if (!(err instanceof RangeError)) throw err;
          padRow(columns, i);
          errors.push([i, err.message]);
          continue;
        }
        if (!source.list && cleaned) {
          columns.ownEnergy[i] = 1;
          ownEnergies.push([i, g.energy, null]);
        }
        ids[i] = warnings.id(g.warnings);
      }
      timings.readbackMs += performance.now() - t3;
    }
    if (onHost.length > 0) {
      const t4 = performance.now();
      const fit = autobkChunkHandler({ options, chir: null, energy: null, shape, target: columns });
      for (const i of onHost) {
        const sp = source.at(first + i);
        const energy = Float64Array.from(sp.energy);
        const mu = Float64Array.from(sp.mu);
        const given = new Uint8Array([(sp.e0 === undefined ? 0 : E0_GIVEN) | (sp.edgeStep === undefined ? 0 : STEP_GIVEN)]);
        const reply = fit({
          start: source.start + first + i, count: 1, energy, lengths: new Int32Array([energy.length, mu.length]), mu, given,
          e0: new Float64Array([sp.e0 ?? NaN]), edgeStep: new Float64Array([sp.edgeStep ?? NaN]),
        });
        const r = reply.value;
        for (const [, message] of r.errors) errors.push([i, message]);
        const own = r.warningIds[0]! > 0 ? r.warningLists[r.warningIds[0]! - 1]! : [];
        ids[i] = warnings.id([...own, CPU_FALLBACK_WARNING]);
        for (const [, e, b] of r.ownEnergies) ownEnergies.push([i, e, b]);
      }
      timings.setupMs += performance.now() - t4;
    }
    if (plan !== undefined || onHost.length > 0) await chirOf(columns, n, plan?.shape.nfft ?? options.nfft ?? 2048);
    await sink.add({ columns, errors, warnings: warnings.lists.length > 0 ? { lists: warnings.lists, ids } : null, ownEnergies, bkgOnDemand: null });
    progress(sink.done);
  }
  return lm;
}
