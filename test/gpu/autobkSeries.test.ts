/**
 * The series kernels (shaders/autobk_series.wgsl) against the CPU float64 setup on the same
 * spectra: the df64 mat-vecs r0 = K·μ' and χ0_q = C·μ' from raw float64 μ words, pre_edge's
 * edge step as a df64 functional, the checks that leave a spectrum to the host, and the
 * finishing kernel's χ², χ and coefficients (float64 planes) against float64 evaluations at the
 * coefficients it returns.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { AutobkSeriesGpu, SERIES_STATUS_REDO } from '../../src/gpu/autobkSeries.js';
import { autobkChisqr, autobkGrids } from '../../src/xafs/autobk.js';
import { allocateColumns, type AutobkColumns } from '../../src/xafs/autobkBatchResults.js';
import { autobkSeriesDesign, type AutobkSeriesDesign } from '../../src/xafs/autobkSeries.js';
import { edgeStepMap } from '../../src/xafs/edgeStepMap.js';
import { preEdge } from '../../src/xafs/preEdge.js';
import { autobkOptionsOf, loadReference, loadSpectrum, maxAbs, maxAbsDiff } from '../xafs/fixtures.js';
import { gaussian, mulberry32 } from '../util/random.js';
import { gpuLabel, testGpu } from '../util/gpu.js';

const ctx = await testGpu();

/** df64 (~2⁻⁴⁶ per operation) over a few hundred terms, relative to Σ|K_ri·μ'_i|; f32 alone gives ~1e-7. */
const DF64_TOL = 1e-11;
/** f32 assembly of χ and c0' relative to the edge step / max|χ|. */
const F32_TOL = 2e-6;

const settings = { maxIterations: 200, ptol: 1e-10, lambda0: 1e-3 };

function series(name: string, count: number, computeSteps = false) {
  const ref = loadReference(name);
  const { energy, mu } = loadSpectrum(ref);
  const pre = preEdge(energy, mu);
  const options = { ...autobkOptionsOf(ref), e0: pre.e0, edgeStep: pre.edgeStep };
  const ne = energy.length;
  const packed = new Float64Array(count * ne);
  const sigma = 2e-3 * (Math.max(...mu) - Math.min(...mu));
  for (let s = 0; s < count; s++) {
    const rnd = gaussian(mulberry32(300 + s));
    for (let i = 0; i < ne; i++) packed[s * ne + i] = mu[i]! + sigma * rnd();
  }
  const grids = autobkGrids(energy, mu, options);
  const design = autobkSeriesDesign(grids, computeSteps ? edgeStepMap(grids.energy, pre.e0) : null);
  return { energy, packed, options, design, ne };
}

const words = (a: Float64Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, 2 * a.length);

/** Runs a chunk through setup, the LM loop and the finish; returns the columns and count read-backs. */
async function fitChunk(gpu: AutobkSeriesGpu, design: AutobkSeriesDesign, packed: Float64Array, steps: Float64Array | null, count: number): Promise<{ columns: AutobkColumns; reads: number }> {
  await gpu.start([packed], steps === null ? null : words(steps), count, 4);
  let reads = 0;
  let trials = 4;
  for (let total = trials; ; total += trials) {
    reads++;
    if ((await gpu.readActive()) === 0 || total >= settings.maxIterations) break;
    trials *= 2;
    gpu.iterate(trials);
  }
  gpu.finish();
  const columns = allocateColumns({ kWidth: design.nk, coefWidth: design.nspl, nr: 0, rows: design.ne }, 0, count, { bkg: false, ownEnergy: false });
  await gpu.readResults(columns, 0);
  return { columns, reads };
}

describe.skipIf(!ctx)(`AUTOBK series kernels ${gpuLabel(ctx)}`, () => {
  const made: AutobkSeriesGpu[] = [];
  afterAll(() => made.forEach((m) => m.destroy()));

  it.each(['ru_qas', 'cu_rt01__rbkg1.4_kw2', 'scorodite_as_trans__clamp_hi10'])('%s: r0 and the clamp χ0 in df64 equal the float64 maps', async (name) => {
    const count = 5;
    const { packed, design, ne } = series(name, count);
    const { nIn, iek0, rows, nc, chiMap, residualMap, clampIdx } = design;
    const gpu = await AutobkSeriesGpu.create(ctx!, design, count, settings);
    made.push(gpu);
    await gpu.start([packed], words(new Float64Array(count).fill(1)), count, 0);
    expect(await gpu.readActive()).toBe(count);
    const rd = rows + nc;
    const data = new Float32Array(count * 2 * rd);
    await gpu.readSetup(data);
    for (let s = 0; s < count; s++) {
      const ref = packed[s * ne + iek0]!;
      for (let r = 0; r < rd; r++) {
        const row = (i: number): number => (r < rows ? residualMap[r * nIn + i]! : chiMap[clampIdx[r - rows]! * nIn + i]!);
        let exact = 0;
        let size = 0;
        for (let i = 0; i < nIn; i++) {
          const x = packed[s * ne + iek0 + i]! - ref;
          exact += row(i) * x;
          size += Math.abs(row(i) * x);
        }
        const got = data[2 * rd * s + r]! + data[2 * rd * s + rd + r]!;
        // Rows that vanish identically (Im of bin 0) must come out 0.
        expect(Math.abs(got - exact), `spectrum ${s} row ${r}`).toBeLessThanOrEqual(DF64_TOL * size);
      }
    }
  });

  it('after the LM: χ², χ and the coefficients equal float64 evaluations at the returned coefficients', async () => {
    const count = 6;
    const { energy, packed, options, design, ne } = series('ru_qas', count);
    const { nk, nspl } = design;
    const gpu = await AutobkSeriesGpu.create(ctx!, design, 8, settings);
    made.push(gpu);
    const edge = options.edgeStep;
    const { columns, reads } = await fitChunk(gpu, design, packed, new Float64Array(count).fill(-edge), count);
    // Doubling trials: 4, 8, 16, … reach maxfev = 200 within 6 read-backs.
    expect(reads).toBeLessThanOrEqual(6);
    for (let s = 0; s < count; s++) {
      const mu = packed.subarray(s * ne, (s + 1) * ne);
      const grids = autobkGrids(energy, mu, options);
      expect(columns.status[s]).toBe(0);
      // The given step, as given, without its sign.
      expect(columns.edgeStep[s]).toBe(edge);
      const coefs = columns.coefs.subarray(s * nspl, (s + 1) * nspl);
      const init = columns.initCoefs.subarray(s * nspl, (s + 1) * nspl);
      expect(maxAbsDiff(init, grids.initCoefs) / edge).toBeLessThanOrEqual(F32_TOL);
      const chi = new Float64Array(nk);
      for (let i = 0; i < nk; i++) {
        const f = grids.basisK.first[i]!;
        let b = 0;
        for (let m = 0; m < 4; m++) b += grids.basisK.vals[4 * i + m]! * coefs[f + m]!;
        chi[i] = (grids.chiData[i]! - b) / edge;
      }
      expect(maxAbsDiff(columns.chi.subarray(s * nk, (s + 1) * nk), chi) / maxAbs(chi)).toBeLessThanOrEqual(F32_TOL);
      const chisqr = autobkChisqr(grids, coefs);
      expect(Math.abs(columns.chisqr[s]! - chisqr) / chisqr).toBeLessThanOrEqual(1e-6);
      // χ²/dof in f32 on the GPU.
      const redchi = columns.chisqr[s]! / (design.rows + design.nc - nspl);
      expect(Math.abs(columns.redchi[s]! - redchi) / redchi).toBeLessThanOrEqual(1e-6);
      expect(columns.iterations[s]).toBeGreaterThan(0);
    }
  });

  it("pre_edge's edge step as a df64 functional of μ equals preEdge's, and the fit with it equals the fit with the step given", async () => {
    const count = 6;
    const { energy, packed, design, ne } = series('ru_qas', count, true);
    const gpu = await AutobkSeriesGpu.create(ctx!, design, count, settings);
    made.push(gpu);
    const { columns } = await fitChunk(gpu, design, packed, null, count);
    const steps = new Float64Array(count);
    for (let s = 0; s < count; s++) {
      const mu = packed.subarray(s * ne, (s + 1) * ne);
      steps[s] = preEdge(energy, mu, { e0: design.grids.e0 }).edgeStep;
      // A cancellation of two fits over ~600 samples: df64 leaves ~1e-13 of the step.
      expect(Math.abs(columns.edgeStep[s]! - steps[s]!) / steps[s]!, `spectrum ${s}`).toBeLessThanOrEqual(1e-11);
    }
    const given = await AutobkSeriesGpu.create(ctx!, { ...design, edgeWeights: null }, count, settings);
    made.push(given);
    const withSteps = (await fitChunk(given, design, packed, steps, count)).columns;
    expect(maxAbsDiff(columns.chi, withSteps.chi) / maxAbs(withSteps.chi)).toBeLessThanOrEqual(1e-6);
  });

  it('a non-finite or huge μ, or an unusable given step, leaves the spectrum to the host (status REDO) and the rest are fitted', async () => {
    const count = 6;
    const { packed, options, design, ne } = series('ru_qas', count);
    packed[1 * ne + 3] = NaN;
    packed[2 * ne + ne - 1] = Infinity;
    packed[3 * ne + 100] = 1e31;
    const steps = new Float64Array(count).fill(options.edgeStep);
    steps[4] = 0;
    const gpu = await AutobkSeriesGpu.create(ctx!, design, count, settings);
    made.push(gpu);
    const { columns } = await fitChunk(gpu, design, packed, steps, count);
    expect(Array.from(columns.status)).toEqual([0, SERIES_STATUS_REDO, SERIES_STATUS_REDO, SERIES_STATUS_REDO, SERIES_STATUS_REDO, 0]);
    expect(columns.chisqr[5]).toBeGreaterThan(0);
    expect(columns.chisqr[0]).toBeGreaterThan(0);
  });
});
