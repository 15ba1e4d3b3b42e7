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
import type { AutobkBatchOptions } from './autobkBatchTypes.js';
import { edgeStepMap, type EdgeStepMap } from './edgeStepMap.js';

/** The shared maps of a series (all float64, row-major unless stated) and the grids they belong to. */
export interface AutobkSeriesDesign extends AutobkSeriesMaps {
  /** Grids of the series (the μ-dependent fields — chiData, initCoefs, splY — are those of the spectrum they were built from). */
  grids: AutobkGrids & AutobkCleaning;
}

/**
 * The linear maps of μ[iek0 .. iek0 + nIn) for the grids of a series: χ0 on kout, c0, r0, the
 * clamp rows of χ0, and A.
 */
export function autobkSeriesDesign(grids: AutobkGrids & AutobkCleaning, edge: EdgeStepMap | null = null): AutobkSeriesDesign {
  const { kraw, kout, splK, knotSamples, nspl, irbkg, nfft, ftwin, basisK, nclamp } = grids;
  const nFit = kraw.length;
  const nk = kout.length;
  const rows = 2 * irbkg;
  let nIn = nFit;
  for (const i of knotSamples) nIn = Math.max(nIn, i + 1);

  // P = S⁻¹·W: columns of S⁻¹ are the knot splines through unit values.
  const coefMap = new Float64Array(nspl * nIn);
  // One factorisation per spline system, one solve per unit vector.
  const knotFit = new SplineInterpolator(nspl);
  knotFit.factor(splK, nspl);
  const unit = new Float64Array(Math.max(nspl, nFit));
  for (let j = 0; j < nspl; j++) {
    unit.fill(0);
    unit[j] = 1;
    knotFit.solve(unit);
    const weights = [0.5, 0.25, 0.25];
    for (let m = 0; m < 3; m++) {
      const col = knotSamples[3 * j + m]!;
      for (let r = 0; r < nspl; r++) coefMap[r * nIn + col]! += weights[m]! * knotFit.coefs[r]!;
    }
  }

  // M = L − B(kout)·P, column by column (L's column i: the data spline through unit value i).
  const chiMap = new Float64Array(nk * nIn);
  const dataFit = new SplineInterpolator(nFit);
  dataFit.factor(kraw, nFit);
  const col = new Float64Array(nk);
  for (let i = 0; i < nIn; i++) {
    if (i < nFit) {
      unit.fill(0);
      unit[i] = 1;
      dataFit.solve(unit);
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
    edgeStart: edge?.start ?? 0, edgeWeights: edge?.weights ?? null,
  };
}

/**
 * The one e0 of a series: a number, or a per-spectrum array whose values are all equal; null
 * otherwise (then each spectrum has its own setup).
 */
export function seriesE0(e0: number | Float64Array | undefined): number | null {
  if (typeof e0 === 'number') return e0;
  if (e0 === undefined || e0.length === 0) return null;
  const v = e0[0]!;
  for (let i = 1; i < e0.length; i++) if (e0[i] !== v) return null;
  return v;
}

/**
 * The shared maps of a series on `energy` with one e0, or null when it cannot take the series
 * path: a grid that cleaning would change (unsorted, non-finite, duplicate energies), chiStd,
 * a setup autobk refuses (then each spectrum gets autobk's own error), or, when the edge steps
 * are not given, pre_edge options under which the step is no fixed functional of μ.
 * The maps depend on the grid, e0 and options only: they are built from μ = 1.
 */
export function planSeries(energy: Float64Array, e0: number, options: AutobkBatchOptions, stepsGiven: boolean): AutobkSeriesDesign | null {
  if (options.chiStd !== undefined) return null;
  let grids: AutobkGrids & AutobkCleaning;
  try {
    // The edge step only scales χ and the grids do not depend on μ: any μ with a signal will do.
    grids = autobkGrids(energy, new Float64Array(energy.length).fill(1), { ...options, e0, edgeStep: 1 });
  } catch (err) {
    // A bad option or grid: each spectrum then gets autobk's own error on the per-spectrum path.
    if (err instanceof RangeError || err instanceof TypeError) return null;
    throw err;
  }
  if (grids.droppedNonFinite !== 0 || grids.sorted || grids.separatedDuplicates !== 0) return null;
  let edge: EdgeStepMap | null = null;
  if (!stepsGiven) {
    edge = edgeStepMap(grids.energy, e0, options.preEdgeOptions);
    if (edge === null) return null;
  }
  return autobkSeriesDesign(grids, edge);
}
