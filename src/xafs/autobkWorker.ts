/**
 * The CPU back end of autobkBatch, one chunk of spectra per job: the same float64 code as
 * `autobk` (the pieces of autobkGrids — settings, edge, plan, the spectrum's own part — the
 * Fourier design, the reduced problem and the solver settings of autobkSolve), so every result
 * equals autobk's.
 * Each spectrum's results are written straight into the batch's planes (AutobkColumns): the
 * batch planes themselves where threads share memory (a SharedArrayBuffer) or the handler runs in
 * the calling thread, otherwise planes of the chunk that move back to the caller without a copy.
 * Runs in a worker thread (serveWorker at the bottom) or, for workers: 0, in the calling thread
 * through the same handler.
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
import {
  allocateColumns,
  knotWidth,
  WarningTable,
  writeFitScalars,
  type OwnRow,
  STATUS_ERROR,
  type AutobkColumns,
  type AutobkPlaneShape,
} from './autobkBatchResults.js';
import { xftf } from './xft.js';
import { TINY_ENERGY, cleanSpectrum } from './xafsUtils.js';
import { checkFitFinite } from './validate.js';

export interface AutobkWorkerInit {
  options: AutobkBatchOptions;
  chir: ChirSettings | true | null;
  /** The shared energy grid of a packed series; null for a list of spectra. */
  energy: Float64Array | null;
  /** Plane widths of the batch. */
  shape: AutobkPlaneShape;
  /** The batch planes to write in place (shared memory, or the calling thread); null: each job returns its own. */
  target: AutobkColumns | null;
  /**
   * Whether the handler pads its own rows of `target` with NaN (the caller allocated it without:
   * first touch of the pages then happens on the worker threads, in parallel, not on the caller's).
   */
  padRows?: boolean;
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

/**
 * One chunk's results: its planes (null when they were written into the batch's shared planes),
 * the error messages and the distinct warning lists with each spectrum's index into them.
 */
export interface AutobkChunk {
  start: number;
  count: number;
  columns: AutobkColumns | null;
  /** [local index, message] of the spectra that failed. */
  errors: [number, string][];
  /** Series spectra whose cleaning changed the series grid: [local index, cleaned grid, bkg (null: in the planes)]. */
  ownEnergies: OwnRow[];
  warningLists: string[][];
  warningIds: Uint16Array;
  /** The R grid of χ(R), the same for every spectrum of the batch; null without χ(R). */
  r: Float64Array | null;
  /** Summed over the chunk's spectra (ms): grids, Fourier design and χ(R), LM, result assembly. */
  timings: Float64Array;
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

/** NaN past a row's lengths (nk χ points, nspl coefficients, ne energy points); a failed row (all 0) is NaN throughout. */
function padTails(out: AutobkColumns, i: number, nk: number, nspl: number, ne: number): void {
  out.chi.fill(NaN, i * out.kWidth + nk, (i + 1) * out.kWidth);
  out.coefs.fill(NaN, i * out.coefWidth + nspl, (i + 1) * out.coefWidth);
  out.initCoefs.fill(NaN, i * out.coefWidth + nspl, (i + 1) * out.coefWidth);
  const kw = knotWidth(out.coefWidth);
  out.knots.fill(NaN, i * kw + (nspl === 0 ? 0 : nspl + 4), (i + 1) * kw);
  const row = out.rowOffsets[i]!;
  out.bkg?.fill(NaN, row + ne, out.rowOffsets[i + 1]!);
  out.energy?.fill(NaN, row + ne, out.rowOffsets[i + 1]!);
  if (nk === 0) for (const a of [out.e0, out.edgeStep, out.chisqr, out.redchi, out.kmin, out.kmax, out.rbkg]) a[i] = NaN;
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

  const padRows = init.padRows === true && init.target !== null;
  return (job) => {
    const { start, count, lengths, given } = job;
    // Rows go to the batch planes when the caller shares them, else to this chunk's own.
    const own = init.target === null ? allocateColumns(init.shape, start, count, { ownEnergy: lengths !== null }) : null;
    const out = own ?? init.target!;
    const at0 = start - out.start;
    const errors: [number, string][] = [];
    const ownEnergies: OwnRow[] = [];
    const warnings = new WarningTable();
    const warningIds = new Uint16Array(count);
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
      const t0 = performance.now();
      const i = at0 + s;
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
        // The widths are bounds derived from the grid and options before any fit (planeShape).
        if (nk > out.kWidth || nspl > out.coefWidth) throw new Error(`autobkBatch: plane widths ${out.kWidth}/${out.coefWidth} below nk = ${nk}/nspl = ${nspl}`);
        const row = out.rowOffsets[i]!;
        // The input grid, unchanged by cleaning, is the series grid the caller already holds.
        const ownEnergy = lengths !== null || cleaning.droppedNonFinite > 0 || cleaning.sorted || cleaning.separatedDuplicates > 0;
        // As autobkResult: bkg = μ below e0 and the spline above; χ = (chiData − B·c)/edgeStep.
        // Planes without bkg form it on demand from the series grid, which a cleaned row no
        // longer has: such a row's bkg travels apart with its grid, as does a series' cleaned grid.
        const bkg = out.bkg !== null ? out.bkg.subarray(row, row + ne) : ownEnergy ? new Float64Array(ne) : null;
        if (bkg !== null) {
          bkg.set(mu);
          evalBasis(plan.basisE, coefs, bkg.subarray(iek0, iek0 + kraw.length));
        }
        if (ownEnergy && out.energy !== null) out.energy.set(energy, row);
        else if (ownEnergy) ownEnergies.push([s, energy.slice(), out.bkg === null ? bkg : null]);
        const chi = out.chi.subarray(i * out.kWidth, i * out.kWidth + nk);
        evalBasis(plan.basisK, coefs, chi);
        for (let j = 0; j < nk; j++) chi[j] = (setup.chiData[j]! - chi[j]!) / edgeStep;
        checkFitFinite('autobk', 'chi', chi, nspl);
        if (bkg !== null) checkFitFinite('autobk', 'bkg', bkg, nspl);
        out.knots.set(plan.knots, i * (out.coefWidth + 4));
        out.initCoefs.set(setup.initCoefs, i * out.coefWidth);
        out.coefs.set(coefs, i * out.coefWidth);
        const t3 = performance.now();
        if (chir !== null) {
          const ft = xftf(kout, chi, chirXftfOptions(options, chir, plan.kmax));
          const nr = Math.min(out.nr, ft.r.length);
          r ??= ft.r.slice(0, nr);
          out.chirRe.set(ft.chirRe.subarray(0, nr), i * out.nr);
          out.chirIm.set(ft.chirIm.subarray(0, nr), i * out.nr);
          out.chirMag.set(ft.chirMag.subarray(0, nr), i * out.nr);
        }
        const t4 = performance.now();

        // Every residual evaluation after the first is one trial step, accepted or not.
        writeFitScalars(out, i, plan, e0, edgeStep, lm.chisqr, lm.nfev - 1, lm.info === 5, nk, ne, ownEnergy);
        if (padRows) padTails(out, i, nk, nspl, ne);
        warningIds[s] = warnings.id(plan.warnings);
        timings[0]! += t1 - t0 - tDesign;
        timings[1]! += tDesign + (t1b - t1) + (t4 - t3);
        timings[2]! += t2 - t1b;
        timings[3]! += t3 - t2;
      } catch (e) {
        out.status[i] = STATUS_ERROR;
        if (padRows) padTails(out, i, 0, 0, 0);
        errors.push([s, e instanceof Error ? e.message : String(e)]);
        timings[0]! += performance.now() - t0;
      }
    }
    const transfer: ArrayBuffer[] = [timings.buffer, warningIds.buffer];
    if (own !== null) {
      for (const v of Object.values(own)) if (ArrayBuffer.isView(v)) transfer.push(v.buffer as ArrayBuffer);
    }
    return { value: { start, count, columns: own, errors, ownEnergies, warningLists: warnings.lists, warningIds, r, timings }, transfer };
  };
}

void serveWorker(autobkChunkHandler);
