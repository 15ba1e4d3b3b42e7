/**
 * AUTOBK of a packed series on one energy grid with one e0: the float64 setup of every spectrum
 * as shared linear maps of μ, built once per series.
 *
 * For a fixed grid and e0, autobkGrids depends on μ only through
 *   - splY = W·μ (each knot averages three samples, `knotSamples`) and c0 = S⁻¹·splY, the
 *     interpolating spline through (splK, splY): c0 = P·μ with P = S⁻¹·W;
 *   - χ_data = L·μ, the interpolating spline of μ on kraw evaluated on kout.
 * So χ0 = χ_data − B(kout)·c0 = (L − B·P)·μ and the FFT rows at c0, r0 = A·c0 + b =
 * 0.05/√π·F·diag(ftwin)·χ0, are fixed matrices times μ. Constants lie in the spline space
 * (L·1 = 1, B·P·1 = 1), so a spectrum's own constant can be subtracted from μ first.
 */
import { SplineInterpolator } from '../math/bspline.js';
import { truncatedRealDft, twiddleTable } from '../math/truncatedDft.js';
import type { AutobkSeriesMaps } from '../gpu/autobkSeries.js';
import { AUTOBK_RESIDUAL_FT_SCALE, autobkGrids, fourierDesign, type AutobkCleaning, type AutobkGrids } from './autobk.js';
import type { AutobkBatchOptions, PackedSeries } from './autobkBatchTypes.js';
import { preEdge } from './preEdge.js';

/** The shared maps of a series (all float64, row-major unless stated) and the grids they belong to. */
export interface AutobkSeriesDesign extends AutobkSeriesMaps {
  /** Grids of the series (the μ-dependent fields — chiData, initCoefs, splY — are those of the spectrum they were built from). */
  grids: AutobkGrids & AutobkCleaning;
}

/**
 * The linear maps of μ[iek0 .. iek0 + nIn) for the grids of a series: χ0 on kout, c0, r0, the
 * clamp rows of χ0, and A.
 */
export function autobkSeriesDesign(grids: AutobkGrids & AutobkCleaning): AutobkSeriesDesign {
  const { kraw, kout, splK, knotSamples, nspl, irbkg, nfft, ftwin, basisK, nclamp } = grids;
  const nFit = kraw.length;
  const nk = kout.length;
  const rows = 2 * irbkg;
  let nIn = nFit;
  for (const i of knotSamples) nIn = Math.max(nIn, i + 1);

  // P = S⁻¹·W: columns of S⁻¹ are the knot splines through unit values.
  const coefMap = new Float64Array(nspl * nIn);
  const knotFit = new SplineInterpolator(nspl);
  const unit = new Float64Array(Math.max(nspl, nFit));
  for (let j = 0; j < nspl; j++) {
    unit.fill(0);
    unit[j] = 1;
    knotFit.fit(splK, unit, nspl);
    const weights = [0.5, 0.25, 0.25];
    for (let m = 0; m < 3; m++) {
      const col = knotSamples[3 * j + m]!;
      for (let r = 0; r < nspl; r++) coefMap[r * nIn + col]! += weights[m]! * knotFit.coefs[r]!;
    }
  }

  // M = L − B(kout)·P, column by column (L's column i: the data spline through unit value i).
  const chiMap = new Float64Array(nk * nIn);
  const dataFit = new SplineInterpolator(nFit);
  const col = new Float64Array(nk);
  for (let i = 0; i < nIn; i++) {
    if (i < nFit) {
      unit.fill(0);
      unit[i] = 1;
      dataFit.fit(kraw, unit, nFit);
      dataFit.evaluate(kout, nFit, col, nk);
    } else {
      col.fill(0);
    }
    for (let r = 0; r < nk; r++) {
      const f = basisK.first[r]!;
      let bp = 0;
      for (let m = 0; m < 4; m++) bp += basisK.vals[4 * r + m]! * coefMap[(f + m) * nIn + i]!;
      chiMap[r * nIn + i] = col[r]! - bp;
    }
  }

  // K = s·F·diag(ftwin)·M: one truncated DFT per column.
  const residualMap = new Float64Array(rows * nIn);
  const table = twiddleTable(nfft);
  const x = new Float64Array(nk);
  const bins = new Float64Array(rows);
  for (let i = 0; i < nIn; i++) {
    for (let r = 0; r < nk; r++) x[r] = ftwin[r]! * chiMap[r * nIn + i]!;
    bins.fill(0);
    truncatedRealDft(x, 0, nk, 0, table, irbkg, AUTOBK_RESIDUAL_FT_SCALE, bins, 0);
    for (let r = 0; r < rows; r++) residualMap[r * nIn + i] = bins[r]!;
  }

  const A = new Float64Array(rows * nspl);
  fourierDesign({ ...grids, chiStd: null }, A, new Float64Array(rows));

  const nc = 2 * nclamp;
  const clampIdx = new Int32Array(nc);
  const clampW = new Float64Array(nc);
  const clampBasis = new Float64Array(nc * nspl);
  for (let q = 0; q < nc; q++) {
    const i = q < nclamp ? q : nk - nc + q;
    clampIdx[q] = i;
    clampW[q] = q < nclamp ? grids.clampLo : grids.clampHi;
    for (let m = 0; m < 4; m++) clampBasis[q * nspl + basisK.first[i]! + m] = basisK.vals[4 * i + m]!;
  }
  return {
    grids, nIn, ne: grids.energy.length, iek0: grids.iek0, rows, nc, nspl, nk, nFit,
    chiMap, coefMap, residualMap, A, clampIdx, clampW, clampBasis, basisK, basisE: grids.basisE,
  };
}

/** How a batch splits into spectra fitted as one series and spectra fitted one by one. */
export interface SeriesPlan {
  design: AutobkSeriesDesign;
  e0: number;
  /** Input indices of the series spectra (ascending) and their edge steps (|edgeStep|). */
  indices: Int32Array;
  edgeSteps: Float64Array;
  /** Indices left to the per-spectrum path (non-finite μ, a bad edge step). */
  rest: number[];
}

/** μ beyond this cannot be held in f32 on the GPU; such a spectrum takes the per-spectrum path. */
const MU_LIMIT = 1e30;

function finiteRow(mu: Float64Array | Float32Array, start: number, ne: number): boolean {
  for (let i = start; i < start + ne; i++) if (!(Math.abs(mu[i]!) < MU_LIMIT)) return false;
  return true;
}

/**
 * The series part of a batch, or null when the batch is not a packed series with one e0 and a
 * clean energy grid (sorted, finite, no duplicates), has chiStd, or its shared setup fails
 * (then the per-spectrum path reports each spectrum's error). Spectra with non-finite μ or a
 * bad edge step stay with the per-spectrum path.
 */
export function planSeries(input: PackedSeries, options: AutobkBatchOptions): SeriesPlan | null {
  const ne = input.energy.length;
  if (ne === 0 || options.chiStd !== undefined) return null;
  const count = Math.floor(input.mu.length / ne);
  const e0In = input.e0;
  let e0: number;
  if (typeof e0In === 'number') {
    e0 = e0In;
  } else if (e0In !== undefined && e0In.length >= count && count > 0) {
    e0 = e0In[0]!;
    for (let i = 1; i < count; i++) if (e0In[i] !== e0) return null;
  } else {
    return null;
  }
  const mu = input.mu;
  const indices: number[] = [];
  const rest: number[] = [];
  for (let s = 0; s < count; s++) (finiteRow(mu, s * ne, ne) ? indices : rest).push(s);
  if (indices.length === 0) return null;
  const first = indices[0]!;
  const row = (s: number): Float64Array | Float32Array => mu.subarray(s * ne, (s + 1) * ne);
  const stepOf = (s: number): number | undefined => (typeof input.edgeStep === 'number' ? input.edgeStep : input.edgeStep?.[s]);

  let grids: AutobkGrids & AutobkCleaning;
  try {
    // The edge step only scales χ; the grids do not depend on it.
    grids = autobkGrids(input.energy, row(first), { ...options, e0, edgeStep: 1 });
  } catch (err) {
    if (err instanceof RangeError) return null;
    throw err;
  }
  if (grids.droppedNonFinite !== 0 || grids.sorted || grids.separatedDuplicates !== 0) return null;

  const kept: number[] = [];
  const steps: number[] = [];
  for (const s of indices) {
    let step = stepOf(s);
    if (step === undefined) {
      try {
        step = preEdge(grids.energy, row(s), { e0, ...options.preEdgeOptions }).edgeStep;
      } catch (err) {
        if (!(err instanceof RangeError)) throw err;
        step = NaN;
      }
    }
    if (Number.isFinite(step) && step !== 0) {
      kept.push(s);
      steps.push(Math.abs(step));
    } else {
      rest.push(s);
    }
  }
  if (kept.length === 0) return null;
  rest.sort((a, b) => a - b);
  return { design: autobkSeriesDesign(grids), e0, indices: Int32Array.from(kept), edgeSteps: Float64Array.from(steps), rest };
}
