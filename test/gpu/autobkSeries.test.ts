/**
 * The series kernels (shaders/autobk_series.wgsl) against the CPU float64 setup on the same
 * spectra: the df64 mat-vecs r0 = K·μ' and χ0_q = C·μ' from raw float64 μ words, and the
 * finishing kernel's χ², χ, μ − bkg and coefficients against float64 evaluations at the
 * coefficients it returns.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { AutobkSeriesGpu } from '../../src/gpu/autobkSeries.js';
import { autobkChisqr, autobkGrids } from '../../src/xafs/autobk.js';
import { autobkSeriesDesign } from '../../src/xafs/autobkSeries.js';
import { preEdge } from '../../src/xafs/preEdge.js';
import { autobkOptionsOf, loadReference, loadSpectrum, maxAbs, maxAbsDiff } from '../xafs/fixtures.js';
import { gaussian, mulberry32 } from '../util/random.js';
import { gpuLabel, testGpu } from '../util/gpu.js';

const ctx = await testGpu();

/** df64 (~2⁻⁴⁶ per operation) over a few hundred terms, relative to Σ|K_ri·μ'_i|; f32 alone gives ~1e-7. */
const DF64_TOL = 1e-11;
/** f32 assembly of χ, μ − bkg and c0' relative to the edge step / max|χ|. */
const F32_TOL = 2e-6;

const settings = { maxIterations: 200, ptol: 1e-10, lambda0: 1e-3 };

function series(name: string, count: number) {
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
  const design = autobkSeriesDesign(autobkGrids(energy, mu, options));
  return { energy, packed, options, design, ne };
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
    await gpu.load(new Uint32Array(packed.buffer), new Float32Array(count).fill(1), count, settings);
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

  it('after the LM: χ², χ, μ − bkg and c0 equal float64 evaluations at the returned coefficients', async () => {
    const count = 6;
    const { energy, packed, options, design, ne } = series('ru_qas', count);
    const { nk, nFit, nspl, iek0 } = design;
    const gpu = await AutobkSeriesGpu.create(ctx!, design, 8, settings);
    made.push(gpu);
    const edge = options.edgeStep;
    await gpu.load(new Uint32Array(packed.buffer), new Float32Array(count).fill(1 / edge), count, settings);
    let active = count;
    for (let k = 0; k < 100 && active > 0; k++) active = await gpu.iterate(2);
    expect(active).toBe(0);
    const out = await gpu.finish(new Float32Array(AutobkSeriesGpu.outputFloats(design, 8)));
    for (let s = 0; s < count; s++) {
      const mu = packed.subarray(s * ne, (s + 1) * ne);
      const ref = mu[iek0]!;
      const grids = autobkGrids(energy, mu, options);
      const coefs = Float64Array.from(out.coefs.subarray(s * nspl, (s + 1) * nspl), (v) => v + ref);
      const init = Float64Array.from(out.initCoefs.subarray(s * nspl, (s + 1) * nspl), (v) => v + ref);
      expect(maxAbsDiff(init, grids.initCoefs) / edge).toBeLessThanOrEqual(F32_TOL);
      const chi = new Float64Array(nk);
      for (let i = 0; i < nk; i++) {
        const f = grids.basisK.first[i]!;
        let b = 0;
        for (let m = 0; m < 4; m++) b += grids.basisK.vals[4 * i + m]! * coefs[f + m]!;
        chi[i] = (grids.chiData[i]! - b) / edge;
      }
      expect(maxAbsDiff(out.chi.subarray(s * nk, (s + 1) * nk), chi) / maxAbs(chi)).toBeLessThanOrEqual(F32_TOL);
      const d = new Float64Array(nFit);
      for (let i = 0; i < nFit; i++) {
        const f = grids.basisE.first[i]!;
        let b = 0;
        for (let m = 0; m < 4; m++) b += grids.basisE.vals[4 * i + m]! * coefs[f + m]!;
        d[i] = mu[iek0 + i]! - b;
      }
      expect(maxAbsDiff(out.muMinusBkg.subarray(s * nFit, (s + 1) * nFit), d) / edge).toBeLessThanOrEqual(F32_TOL);
      const chisqr = autobkChisqr(grids, coefs);
      expect(Math.abs(out.misc[4 * s]! - chisqr) / chisqr).toBeLessThanOrEqual(1e-6);
      expect(out.misc[4 * s + 1]).toBeGreaterThan(0);
    }
  });
});
