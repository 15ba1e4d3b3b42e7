/**
 * The CPU back end of autobkBatch, one chunk of spectra per job: the same float64 code as
 * `autobk` (autobkGrids + fourierDesign = autobkSetup, the reduced problem, autobkSolve), so
 * every result equals autobk's.
 * A chunk's arrays come back packed in one Float64Array (moved, not copied, across threads);
 * autobkBatch cuts the per-spectrum views out of it. Runs in a worker thread (serveWorker at
 * the bottom) or, for workers: 0, in the calling thread through the same handler.
 */
import { serveWorker, type WorkerReply } from '../cpu/workerPool.js';
import { LevenbergMarquardt } from '../math/levenbergMarquardt.js';
import { evalBasis } from '../math/bspline.js';
import { AutobkReducedProblem, autobkGrids, autobkSolve, fourierDesign, type AutobkOptions } from './autobk.js';
import { chirXftfOptions, type AutobkBatchOptions, type ChirSettings } from './autobkBatchTypes.js';
import { xftf } from './xft.js';

export interface AutobkWorkerInit {
  options: AutobkBatchOptions;
  chir: ChirSettings | true | null;
  /** The shared energy grid of a packed series; null for a list of spectra. */
  energy: Float64Array | null;
}

/** Bits of AutobkJob.given. */
export const E0_GIVEN = 1;
export const STEP_GIVEN = 2;

export interface AutobkJob {
  /** Batch index of the chunk's first spectrum. */
  start: number;
  count: number;
  /** List input: every spectrum's energies, concatenated, and (energy, μ) lengths per spectrum; null for a packed series. */
  energy: Float64Array | null;
  lengths: Int32Array | null;
  /** The chunk's μ values, concatenated (a packed series: count rows of the grid's length). */
  mu: Float64Array | Float32Array;
  /** Per spectrum: E0_GIVEN | STEP_GIVEN bits, and the given values. */
  given: Uint8Array;
  e0: Float64Array;
  edgeStep: Float64Array;
}

/** Per-spectrum numbers of an AutobkChunk.meta row. */
export const META = {
  status: 0,
  e0: 1,
  edgeStep: 2,
  nspl: 3,
  irbkg: 4,
  kmin: 5,
  kmax: 6,
  rbkg: 7,
  chisqr: 8,
  redchi: 9,
  nfev: 10,
  /** Points of the cleaned energy grid, and whether it is packed (else the series grid). */
  ne: 11,
  ownEnergy: 12,
  nk: 13,
  /** Points of χ(R) (0 without). */
  nr: 14,
  /** Where the spectrum's arrays start in AutobkChunk.data. */
  offset: 15,
} as const;
export const META_STRIDE = 16;

export const STATUS_ERROR = 0;
export const STATUS_CONVERGED = 1;
export const STATUS_MAX_ITERATIONS = 2;

/**
 * One chunk's results. Per successful spectrum, data holds from meta.offset on:
 * [energy (ne, only if ownEnergy)] bkg (ne), χ (nk), knots (nspl + 4), initial coefficients
 * (nspl), coefficients (nspl), [χ(R) re, im, mag (nr each)].
 */
export interface AutobkChunk {
  start: number;
  count: number;
  meta: Float64Array;
  data: Float64Array;
  /** Per spectrum: the error message (status error) or the setup's warnings. */
  text: (string | string[])[];
  /** The R grid of χ(R), the same for every spectrum of the batch; null without χ(R). */
  r: Float64Array | null;
  /** Summed over the chunk's spectra (ms): grids, Fourier design and χ(R), LM, result assembly. */
  timings: Float64Array;
}

/** A Float64Array that grows by doubling; views taken from it are valid until the next take. */
class PackedOutput {
  buf: Float64Array<ArrayBuffer>;
  used = 0;

  constructor(capacity: number) {
    this.buf = new Float64Array(Math.max(64, capacity));
  }

  take(n: number): Float64Array {
    if (this.used + n > this.buf.length) {
      const grown = new Float64Array(Math.max(2 * this.buf.length, this.used + n));
      grown.set(this.buf.subarray(0, this.used));
      this.buf = grown;
    }
    const view = this.buf.subarray(this.used, this.used + n);
    this.used += n;
    return view;
  }
}

/** The job handler: fits every spectrum of a chunk; per-spectrum failures become error rows. */
export function autobkChunkHandler(init: AutobkWorkerInit): (job: AutobkJob) => WorkerReply<AutobkChunk> {
  const { options, chir } = init;
  const base: AutobkOptions = { ...options };
  const solvers = new Map<string, LevenbergMarquardt>();
  // The Fourier design of one spectrum at a time: the reduced problem copies A and b into its
  // own QR workspace, so one buffer serves every spectrum.
  let design = new Float64Array(0);
  // Output doubles per spectrum seen so far, to size the next chunk's buffer in one allocation.
  let perSpectrum = 0;

  return (job) => {
    const { start, count, lengths, given } = job;
    const meta = new Float64Array(count * META_STRIDE);
    const out = new PackedOutput(Math.ceil(count * perSpectrum * 1.05));
    const text: (string | string[])[] = new Array(count);
    const timings = new Float64Array(4);
    let r: Float64Array | null = null;
    let atE = 0;
    let atMu = 0;
    for (let s = 0; s < count; s++) {
      const lenE = lengths === null ? init.energy!.length : lengths[2 * s]!;
      const lenMu = lengths === null ? lenE : lengths[2 * s + 1]!;
      const energy = lengths === null ? init.energy! : job.energy!.subarray(atE, atE + lenE);
      const mu = job.mu.subarray(atMu, atMu + lenMu);
      atE += lenE;
      atMu += lenMu;
      const row = s * META_STRIDE;
      const opts: AutobkOptions = { ...base };
      if (given[s]! & E0_GIVEN) opts.e0 = job.e0[s]!;
      if (given[s]! & STEP_GIVEN) opts.edgeStep = job.edgeStep[s]!;
      const t0 = performance.now();
      try {
        const grids = autobkGrids(energy, mu, opts);
        const t1 = performance.now();
        // As autobkSetup, timed apart: the Fourier design costs about as much as the rest of the setup.
        const rows = 2 * grids.irbkg;
        const need = rows * grids.nspl + rows + grids.kout.length;
        if (design.length < need) design = new Float64Array(need);
        const A = design.subarray(0, rows * grids.nspl);
        const b = design.subarray(rows * grids.nspl, rows * grids.nspl + rows);
        const scratch = design.subarray(rows * grids.nspl + rows, need);
        const setup = { ...grids, A, b };
        fourierDesign(setup, A, b, scratch);
        const tDesign = performance.now();
        const problem = new AutobkReducedProblem(setup);
        const key = `${problem.m}x${problem.n}`;
        let solver = solvers.get(key);
        if (solver === undefined) {
          solver = new LevenbergMarquardt(problem.m, problem.n);
          solvers.set(key, solver);
        }
        const { coefs, lm } = autobkSolve(setup, options.lm, problem, solver);
        const t2 = performance.now();

        const { nspl, iek0, kraw, kout, edgeStep, chiData } = setup;
        const ne = setup.energy.length;
        const nk = kout.length;
        // The input grid, unchanged by cleaning, is the series grid the caller already holds.
        const ownEnergy = lengths !== null || setup.droppedNonFinite > 0 || setup.sorted || setup.separatedDuplicates > 0;
        const offset = out.used;
        if (ownEnergy) out.take(ne).set(setup.energy);
        // As autobkResult: bkg = μ below e0 and the spline above; χ = (chiData − B·c)/edgeStep.
        const bkg = out.take(ne);
        bkg.set(setup.mu);
        evalBasis(setup.basisE, coefs, bkg.subarray(iek0, iek0 + kraw.length));
        const chi = out.take(nk);
        evalBasis(setup.basisK, coefs, chi);
        for (let i = 0; i < nk; i++) chi[i] = (chiData[i]! - chi[i]!) / edgeStep;
        out.take(nspl + 4).set(setup.knots);
        out.take(nspl).set(setup.initCoefs);
        out.take(nspl).set(coefs);
        const t3 = performance.now();
        let nr = 0;
        if (chir !== null) {
          // chi still holds χ even if the buffer grew since (growing copies, and views keep the old one).
          const ft = xftf(kout, chi, chirXftfOptions(options, chir, setup.kmax));
          nr = ft.r.length;
          r ??= ft.r;
          out.take(nr).set(ft.chirRe);
          out.take(nr).set(ft.chirIm);
          out.take(nr).set(ft.chirMag);
        }
        const t4 = performance.now();

        const dof = 2 * setup.irbkg + 2 * setup.nclamp - nspl;
        meta[row + META.status] = lm.info === 5 ? STATUS_MAX_ITERATIONS : STATUS_CONVERGED;
        meta[row + META.e0] = setup.e0;
        meta[row + META.edgeStep] = edgeStep;
        meta[row + META.nspl] = nspl;
        meta[row + META.irbkg] = setup.irbkg;
        meta[row + META.kmin] = setup.kmin;
        meta[row + META.kmax] = setup.kmax;
        meta[row + META.rbkg] = setup.rbkg;
        meta[row + META.chisqr] = lm.chisqr;
        meta[row + META.redchi] = dof > 0 ? lm.chisqr / dof : NaN;
        meta[row + META.nfev] = lm.nfev;
        meta[row + META.ne] = ne;
        meta[row + META.ownEnergy] = ownEnergy ? 1 : 0;
        meta[row + META.nk] = nk;
        meta[row + META.nr] = nr;
        meta[row + META.offset] = offset;
        text[s] = setup.warnings;
        timings[0]! += t1 - t0;
        timings[1]! += tDesign - t1 + (t4 - t3);
        timings[2]! += t2 - tDesign;
        timings[3]! += t3 - t2;
      } catch (e) {
        meta[row + META.status] = STATUS_ERROR;
        text[s] = e instanceof Error ? e.message : String(e);
        timings[0]! += performance.now() - t0;
      }
    }
    if (count > 0) perSpectrum = Math.max(perSpectrum, out.used / count);
    const data = out.buf.subarray(0, out.used);
    return { value: { start, count, meta, data, text, r, timings }, transfer: [data.buffer, meta.buffer, timings.buffer] };
  };
}

void serveWorker(autobkChunkHandler);
