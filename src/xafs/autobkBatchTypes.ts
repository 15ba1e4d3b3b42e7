/**
 * Types shared by `autobkBatch` and its two back ends (worker_threads CPU, WebGPU). One result
 * per input spectrum, in input order; a spectrum that cannot be processed gets an error result
 * and never stops the rest of the batch.
 */
import type { GpuContext, GpuContextOptions } from '../gpu/context.js';
import type { AutobkOptions } from './autobk.js';
import type { XftfOptions } from './xft.js';
import type { AutobkBatchResults } from './autobkBatchResults.js';

/** One spectrum of a batch whose spectra may have different energy grids. */
export interface BatchSpectrum {
  /** Energy grid (eV), any order (cleaned as autobk cleans it). */
  energy: ArrayLike<number>;
  /** μ on `energy`. */
  mu: ArrayLike<number>;
  /** Edge energy (eV) for this spectrum; from preEdge when missing. */
  e0?: number;
  /** Edge step for this spectrum; from preEdge when missing. */
  edgeStep?: number;
}

/**
 * A series on one shared energy grid (a map, a quick-scan series): `mu` holds nSpectra rows of
 * energy.length values, row-major. e0/edgeStep: one value for all, or one per spectrum.
 */
export interface PackedSeries {
  /** The shared energy grid (eV). */
  energy: ArrayLike<number>;
  /** nSpectra × energy.length values of μ, spectrum-major (row-major). */
  mu: Float64Array | Float32Array;
  /** Edge energy (eV): one for all spectra or one per spectrum; from preEdge when missing. */
  e0?: number | Float64Array;
  /** Edge step: one for all spectra or one per spectrum; from preEdge when missing. */
  edgeStep?: number | Float64Array;
}

/**
 * A series on one energy grid that arrives as blocks of rows (a reader of an HDF5 map, a live
 * quick-scan stream): each block holds whole rows of energy.length values. `count`, when known,
 * lets per-spectrum e0/edgeStep arrays be given and the batch planes be allocated up front.
 */
export interface SeriesStream {
  /** The shared energy grid (eV). */
  energy: ArrayLike<number>;
  /** Blocks of whole rows of μ (energy.length values each), in spectrum order. */
  mu: AsyncIterable<Float64Array | Float32Array>;
  /** Number of spectra, when known (required for per-spectrum e0/edgeStep arrays). */
  count?: number;
  /** Edge energy (eV): one for all spectra or one per spectrum; from preEdge when missing. */
  e0?: number | Float64Array;
  /** Edge step: one for all spectra or one per spectrum; from preEdge when missing. */
  edgeStep?: number | Float64Array;
}

/** What autobkBatch fits: a list of spectra (each with its own grid), a packed series on one grid, or a stream of row blocks. */
export type AutobkBatchInput = readonly BatchSpectrum[] | PackedSeries | SeriesStream;

/** Progress of a batch, as run.onProgress receives it. */
export interface BatchProgress {
  /** Spectra finished (any status) and total (for a stream of unknown length: done so far). */
  done: number;
  /** Total spectra (for a stream of unknown length: done so far). */
  total: number;
  /** done / total, reaching exactly 1 once, at the end (NaN while a stream's length is unknown). */
  fraction: number;
}

/** Wall-clock split of one batch (ms), for benchmarks; CPU back end: summed over spectra. */
export interface BatchTimings {
  /** CPU float64 setup: cleaning, pre_edge, grids, knots, initial coefficients. */
  setupMs: number;
  /** Upload, basis columns and the batched FFT (GPU), or the Fourier design (CPU). */
  transformMs: number;
  /** Levenberg–Marquardt iterations. */
  lmMs: number;
  /** Read-back and assembling the result records. */
  readbackMs: number;
  /** Whole call, from entry to the returned promise's settling (ms). */
  totalMs: number;
  /** GPU submissions (0 on the CPU). */
  submissions: number;
  /** GPU series path: chunks, and the host's waits for the GPU (read-backs) per chunk. */
  chunks?: number;
  /** GPU series path: the host's waits for the GPU (read-backs) per chunk. */
  roundTripsPerChunk?: number[];
  /** GPU series path: the largest number of chunks submitted and not yet consumed at once. */
  maxChunksInFlight?: number;
  /** Per chunk: [start, submitted, first read-back, finished, consumed] in ms from the call's start. */
  timeline?: number[][];
  /** GPU time of the series kernels (timestamp queries), where the adapter has them. */
  gpuMs?: number;
}

/** Overrides of the χ(R) transform of `run.chir`; see chirXftfOptions for the defaults. */
export interface ChirSettings {
  /** Largest R of the returned χ(R) (Å; default 10). */
  rmax?: number;
  /** Start of the transform's k window (Å⁻¹; default the fit's kmin). */
  kmin?: number;
  /** End of the transform's k window (Å⁻¹; default the fitted kmax). */
  kmax?: number;
  /** Window sill width (Å⁻¹; default the fit's dk). */
  dk?: number;
  /** k-weight of the transform (default the fit's kweight). */
  kweight?: number;
  /** Window name (default the fit's win); see ftwindow. */
  window?: string;
}

/** How and where autobkBatch runs: device, threads, progress, χ(R), streaming of chunks. */
export interface AutobkBatchRun {
  /**
   * 'auto' (default): the GPU when a hardware adapter exists, else the CPU with a one-line notice
   * (a software adapter such as lavapipe is slower than the CPU path, so 'auto' passes it over).
   */
  device?: 'gpu' | 'cpu' | 'auto';
  /** Called as spectra finish (per chunk), last with fraction 1. */
  onProgress?: (progress: BatchProgress) => void;
  /** Aborting stops the batch between submissions (GPU) or spectra (CPU); the promise rejects. */
  signal?: AbortSignal;
  /** GPU context to use instead of a fresh one. */
  gpu?: GpuContext;
  /** How to create the fresh context when `gpu` is not given (Dawn flags, a `GPU` object). */
  gpuOptions?: GpuContextOptions;
  /**
   * CPU worker threads (default: all cores, or the calling thread for batches of fewer than 32
   * spectra, where starting threads costs more than the fits); 0 runs in the calling thread.
   */
  workers?: number;
  /** Where the 'auto' fallback notice goes (default console.warn). */
  notice?: (message: string) => void;
  /** Also return χ(R) of every spectrum (xftf with the options' window), default false; see chirXftfOptions. */
  chir?: boolean | ChirSettings;
  /** Called once at the end with the time split. */
  onTimings?: (timings: BatchTimings) => void;
  /** GPU only: largest number of spectra per dispatch chunk (default: what the device limits allow). */
  maxChunk?: number;
  /**
   * Called with each finished chunk, in input order, before the next is handed over (awaited if
   * it returns a promise): its planes, to write to disk or reduce, every spectrum exactly once.
   * With retain: false (the default with onChunk) the GPU hands over views of its mapped
   * read-back and of planes reused for a later chunk, valid until onChunk returns (its promise
   * settles): copy what is kept beyond that.
   */
  onChunk?: (chunk: AutobkBatchResults) => void | Promise<void>;
  /**
   * Whether the returned result keeps every spectrum's vectors (χ, bkg, coefficients, χ(R)).
   * Default: true without onChunk, false with it — then the result holds the per-spectrum
   * scalars and errors only, and a run of any length holds one chunk's vectors at a time.
   */
  retain?: boolean;
}

/** Per-spectrum fit details of a batch record (a subset of autobk's AutobkDetails). */
export interface AutobkBatchDetails {
  /** Spline coefficients fitted (Larch's nspl). */
  nspl: number;
  /** R bins below rbkg in the residual (Larch's irbkg). */
  irbkg: number;
  /** Start of the fitted k range (Å⁻¹). */
  kmin: number;
  /** End of the fitted k range (Å⁻¹, after clipping to the data). */
  kmax: number;
  /** rbkg used (Å, after the floor at 2·π/(kstep·nfft)). */
  rbkg: number;
  /** Knot vector of the background spline in k (nspl + 4 values, Å⁻¹). */
  knots: Float64Array;
  /** Initial spline coefficients (Larch's init_coefs). */
  initCoefs: Float64Array;
  /** Fitted spline coefficients. */
  coefs: Float64Array;
  /** Sum of squares of Larch's residual vector (FFT rows and clamp rows) at the solution. */
  chisqr: number;
  /** Reduced chi-square (Larch's redchi). */
  redchi: number;
  /** LM iterations (accepted and rejected trial steps) and residual evaluations. */
  iterations: number;
  /** Residual evaluations (iterations + 1). */
  nfev: number;
  /** What the setup clipped (shared by every record with the same list: read-only). */
  warnings: readonly string[];
}

/** The record of a spectrum that was fitted. */
export interface AutobkBatchSuccess {
  /** `converged`, or `max-iterations` when the solver hit its evaluation limit (the result is still usable). */
  status: 'converged' | 'max-iterations';
  /** Batch index of the spectrum (its position in the input). */
  index: number;
  /** Which back end produced it. */
  device: 'gpu' | 'cpu';
  /** Cleaned energy grid of bkg (the input grid for a packed series). */
  energy: Float64Array;
  /** Edge energy (eV; Larch's ek0). */
  e0: number;
  /** Edge step χ is divided by (Larch's edge_step). */
  edgeStep: number;
  /** Background μ₀(E) on `energy` (Larch's bkg). */
  bkg: Float64Array;
  /** k grid of χ (Å⁻¹). */
  k: Float64Array;
  /** χ(k) on `k`, divided by the edge step, not k-weighted (Larch's chi). */
  chi: Float64Array;
  /** χ(R) on r (Å): real and imaginary parts and modulus (Larch's chir_re, chir_im, chir_mag), with run.chir only. */
  chir?: { r: Float64Array; re: Float64Array; im: Float64Array; mag: Float64Array };
  /** The fit's grids, knots, coefficients and statistics. */
  details: AutobkBatchDetails;
}

/** The record of a spectrum that could not be fitted; the rest of the batch is unaffected. */
export interface AutobkBatchFailure {
  /** Always `error`. */
  status: 'error';
  /** Batch index of the spectrum (its position in the input). */
  index: number;
  /** Which back end reported it. */
  device: 'gpu' | 'cpu';
  /** Says which field and value was wrong, as the single-spectrum functions do. */
  error: string;
}

/** One spectrum's record: fitted, or its error. */
export type AutobkBatchResult = AutobkBatchSuccess | AutobkBatchFailure;

/** Options a batch fit accepts: `autobk`'s, except the per-spectrum ones that live on the input. */
export type AutobkBatchOptions = Omit<AutobkOptions, 'e0' | 'edgeStep' | 'calcUncertainties' | 'errSigma'>;

/**
 * The xftf options of `run.chir` for a spectrum fitted up to `kmax`: by default the transform
 * whose R < rbkg part AUTOBK minimised, i.e. the fit's own window (win, dk, kmin, the fitted
 * kmax), k-weight, nfft and kstep, returned up to R = 10 Å; a ChirSettings object overrides
 * any of these.
 */
export function chirXftfOptions(options: AutobkBatchOptions, chir: true | ChirSettings, kmax: number): XftfOptions {
  const c: ChirSettings = chir === true ? {} : chir;
  const dk = c.dk ?? options.dk ?? 0.1;
  return {
    kmin: c.kmin ?? options.kmin ?? 0,
    kmax: c.kmax ?? kmax,
    dk,
    dk2: dk,
    kweight: c.kweight ?? options.kweight ?? 1,
    window: c.window ?? options.win ?? 'hanning',
    rmaxOut: c.rmax ?? 10,
    nfft: options.nfft ?? 2048,
    kstep: options.kstep ?? 0.05,
  };
}

/** R points of χ(R) up to rmax (xftf's irmax; the same for every spectrum of a batch). */
export function chirBins(options: AutobkBatchOptions, chir: true | ChirSettings): number {
  const xo = chirXftfOptions(options, chir, 0);
  const nfft = xo.nfft!;
  const rstep = Math.PI / (xo.kstep! * nfft);
  return Math.trunc(Math.min(nfft / 2, 1.01 + xo.rmaxOut! / rstep));
}

/**
 * Largest |edge step| (μ units) the GPU fits; beyond it the spectrum is fitted on the CPU in
 * float64, with a warning. Larch's clamp rows weigh χ by s = 0.1 + 10·mean(r²), with the FFT
 * residual r in μ units: for μ in large units (raw fluorescence counts, edge steps of 10²–10⁶)
 * the clamp rows outweigh the FFT rows by far more than float32 resolves, and the GPU's χ went
 * 100 % wrong (with the clamps off it agrees at every scale). Every fixture has an edge step
 * ≤ 16 and agrees to 1e-9 on the GPU; at 32 and beyond the first disagreements at 1e-4 appear.
 * The list path (src/xafs/autobkBatchGpu.ts) and the series kernel (shaders/autobk_series.wgsl,
 * MAX_GPU_EDGE_STEP) send such spectra to the host.
 */
export const MAX_GPU_EDGE_STEP = 16;
