/**
 * The CPU back end of autobkBatch, one chunk of spectra per job: the same float64 code as
 * `autobk` (the pieces of autobkGrids — settings, edge, plan, the spectrum's own part — the
 * Fourier design, the reduced problem and the solver settings of autobkSolve), so every result
 * equals autobk's.
 * A chunk's arrays come back packed in one Float64Array (moved, not copied, across threads);
 * autobkBatch cuts the per-spectrum views out of it. Runs in a worker thread (serveWorker at
 * the bottom) or, for workers: 0, in the calling thread through the same handler.
 */
import { serveWorker, type WorkerReply } from '../cpu/workerPool.js';
import { LevenbergMarquardt, type LmOptions } from '../math/levenbergMarquardt.js';
import { evalBasis } from '../math/bspline.js';
import { float64Views } from '../math/linalg.js';
import {
  AutobkReducedProblem,
  autobkEdge,
  autobkLmOptions,
  autobkPlan,
  autobkSettings,
  autobkSpectrumPart,
  factorFourierDesign,
  fourierDesignData,
  fourierDesignMatrix,
  type AutobkPlan,
  type AutobkSettings,
  type AutobkSetup,
} from './autobk.js';
import { chirXftfOptions, type AutobkBatchOptions, type ChirSettings } from './autobkBatchTypes.js';
import { xftf } from './xft.js';
import { TINY_ENERGY, cleanSpectrum } from './xafsUtils.js';

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

/** Everything of a fit fixed by its plan, with the arrays a spectrum's own part is written into. */
interface PlanFit {
  plan: AutobkPlan;
  /** The plan's fields plus splY, initCoefs, chiData and b, rewritten for every spectrum. */
  setup: AutobkSetup;
  problem: AutobkReducedProblem;
  solver: LevenbergMarquardt;
  lmOptions: LmOptions;
  coefs: Float64Array;
}

/** Plans kept per worker: a noisy series finds a few dozen distinct e0 values; an e0 per spectrum would only churn. */
const MAX_PLANS = 64;

/**
 * Whether cleaning (cleanSpectrum, and pre_edge's second cleaning) leaves a grid unchanged: all
 * finite, strictly increasing, no gap within 10 × TINY_ENERGY (removeDups's own test).
 */
function cleaningKeeps(energy: Float64Array): boolean {
  const n = energy.length;
  if (n < 2) return false;
  let minDiff = Infinity;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(energy[i]!)) return false;
    if (i > 0) minDiff = Math.min(minDiff, energy[i]! - energy[i - 1]!);
  }
  return minDiff > 10 * TINY_ENERGY;
}

function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}

/**
 * The job handler: fits every spectrum of a chunk; per-spectrum failures become error rows.
 * Spectra of a packed series whose grid cleaning leaves as it is share one plan per e0 (grids,
 * knots, bases, the Fourier block and its QR) for the whole map, so that each spectrum costs
 * pre_edge, its own splines and b, and the LM iterations; the operations are autobk's, in its
 * order, so the results are bit-identical.
 */
export function autobkChunkHandler(init: AutobkWorkerInit): (job: AutobkJob) => WorkerReply<AutobkChunk> {
  const { options, chir } = init;
  // Option errors are every spectrum's, reported after its cleaning as autobk orders its checks.
  let settings: AutobkSettings | null = null;
  let settingsError: unknown = null;
  try {
    settings = autobkSettings(options);
  } catch (e) {
    settingsError = e;
  }
  const grid = init.energy !== null && cleaningKeeps(init.energy) ? init.energy : null;
  const plans = new Map<number, PlanFit>();
  const solvers = new Map<string, LevenbergMarquardt>();
  // The Fourier block of a new plan (only its QR factor is kept), a DFT input, and a float64 μ row.
  let design = new Float64Array(0);
  let muRow = new Float64Array(0);
  // Output doubles per spectrum seen so far, to size the next chunk's buffer in one allocation.
  let perSpectrum = 0;

  const planFit = (plan: AutobkPlan): PlanFit => {
    const { nspl, irbkg } = plan;
    const nk = plan.kout.length;
    const rows = 2 * irbkg;
    if (design.length < rows * nspl + nk) design = new Float64Array(rows * nspl + nk);
    const A = design.subarray(0, rows * nspl);
    const [b, splY, initCoefs, chiData, coefs] = float64Views([rows, nspl, nspl, nk, nspl]);
    const setup: AutobkSetup = { ...plan, mu: muRow, edgeStep: 1, splY, initCoefs, chiData, A, b };
    fourierDesignMatrix(setup, A, design.subarray(rows * nspl));
    const problem = new AutobkReducedProblem(setup, factorFourierDesign(A, rows, nspl));
    const key = `${problem.m}x${problem.n}`;
    let solver = solvers.get(key);
    if (solver === undefined) {
      solver = new LevenbergMarquardt(problem.m, problem.n);
      solvers.set(key, solver);
    }
    return { plan, setup, problem, solver, lmOptions: autobkLmOptions(nspl, options.lm), coefs };
  };

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
      const energyIn = lengths === null ? init.energy! : job.energy!.subarray(atE, atE + lenE);
      const muIn = job.mu.subarray(atMu, atMu + lenMu);
      atE += lenE;
      atMu += lenMu;
      const row = s * META_STRIDE;
      const t0 = performance.now();
      try {
        // A row on a grid that cleaning keeps, with finite values, is its own cleaned input.
        const onGrid = grid !== null && allFinite(muIn);
        let energy: Float64Array;
        let mu: Float64Array;
        let cleaning = { droppedNonFinite: 0, sorted: false, separatedDuplicates: 0 };
        if (onGrid) {
          energy = grid;
          if (muIn instanceof Float64Array) {
            mu = muIn;
          } else {
            if (muRow.length < lenMu) muRow = new Float64Array(lenMu);
            mu = muRow.subarray(0, lenMu);
            mu.set(muIn);
          }
        } else {
          const clean = cleanSpectrum(energyIn, muIn, 'autobk');
          energy = clean.energy;
          mu = clean.mu;
          cleaning = clean;
        }
        if (settings === null) throw settingsError;
        const edge = autobkEdge(
          energy,
          mu,
          given[s]! & E0_GIVEN ? job.e0[s]! : undefined,
          given[s]! & STEP_GIVEN ? job.edgeStep[s]! : undefined,
          options.preEdgeOptions,
          onGrid,
        );
        const e0 = edge.e0;
        const edgeStep = Math.abs(edge.edgeStep);
        let fit = onGrid ? plans.get(e0) : undefined;
        let tDesign = 0;
        if (fit === undefined) {
          const plan = autobkPlan(energy, e0, settings);
          const tp = performance.now();
          fit = planFit(plan);
          tDesign = performance.now() - tp;
          if (onGrid) {
            // The oldest plan goes first: along a series whose edge drifts, recent e0 values recur.
            if (plans.size >= MAX_PLANS) plans.delete(plans.keys().next().value!);
            plans.set(e0, fit);
          }
        }
        const { plan, setup, problem, solver, coefs } = fit;
        setup.mu = mu;
        setup.edgeStep = edgeStep;
        autobkSpectrumPart(plan, mu, setup.splY, setup.initCoefs, setup.chiData);
        const t1 = performance.now();
        fourierDesignData(setup, setup.b, design);
        problem.loadData();
        const t1b = performance.now();
        coefs.set(setup.initCoefs);
        const lm = solver.solve(problem, coefs, fit.lmOptions);
        const t2 = performance.now();

        const { nspl, iek0, kraw, kout } = plan;
        const ne = energy.length;
        const nk = kout.length;
        // The input grid, unchanged by cleaning, is the series grid the caller already holds.
        const ownEnergy = lengths !== null || cleaning.droppedNonFinite > 0 || cleaning.sorted || cleaning.separatedDuplicates > 0;
        const offset = out.used;
        if (ownEnergy) out.take(ne).set(energy);
        // As autobkResult: bkg = μ below e0 and the spline above; χ = (chiData − B·c)/edgeStep.
        const bkg = out.take(ne);
        bkg.set(mu);
        evalBasis(plan.basisE, coefs, bkg.subarray(iek0, iek0 + kraw.length));
        const chi = out.take(nk);
        evalBasis(plan.basisK, coefs, chi);
        for (let i = 0; i < nk; i++) chi[i] = (setup.chiData[i]! - chi[i]!) / edgeStep;
        out.take(nspl + 4).set(plan.knots);
        out.take(nspl).set(setup.initCoefs);
        out.take(nspl).set(coefs);
        const t3 = performance.now();
        let nr = 0;
        if (chir !== null) {
          // chi still holds χ even if the buffer grew since (growing copies, and views keep the old one).
          const ft = xftf(kout, chi, chirXftfOptions(options, chir, plan.kmax));
          nr = ft.r.length;
          r ??= ft.r;
          out.take(nr).set(ft.chirRe);
          out.take(nr).set(ft.chirIm);
          out.take(nr).set(ft.chirMag);
        }
        const t4 = performance.now();

        const dof = 2 * plan.irbkg + 2 * plan.nclamp - nspl;
        meta[row + META.status] = lm.info === 5 ? STATUS_MAX_ITERATIONS : STATUS_CONVERGED;
        meta[row + META.e0] = e0;
        meta[row + META.edgeStep] = edgeStep;
        meta[row + META.nspl] = nspl;
        meta[row + META.irbkg] = plan.irbkg;
        meta[row + META.kmin] = plan.kmin;
        meta[row + META.kmax] = plan.kmax;
        meta[row + META.rbkg] = plan.rbkg;
        meta[row + META.chisqr] = lm.chisqr;
        meta[row + META.redchi] = dof > 0 ? lm.chisqr / dof : NaN;
        meta[row + META.nfev] = lm.nfev;
        meta[row + META.ne] = ne;
        meta[row + META.ownEnergy] = ownEnergy ? 1 : 0;
        meta[row + META.nk] = nk;
        meta[row + META.nr] = nr;
        meta[row + META.offset] = offset;
        text[s] = plan.warnings.slice();
        timings[0]! += t1 - t0 - tDesign;
        timings[1]! += tDesign + (t1b - t1) + (t4 - t3);
        timings[2]! += t2 - t1b;
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
