/**
 * The AUTOBK kernels against the CPU path on the same input: basis columns + batched FFT against
 * the float64 Fourier design (A and r0 = A·c0 + b), and the f32 LM loop against the CPU's exact
 * minimiser (before the host's float64 polish step).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { AUTOBK_LM_STATUS, AutobkLm, type AutobkLmShape } from '../../src/gpu/autobkLm.js';
import { evalBasis } from '../../src/math/bspline.js';
import { AUTOBK_RESIDUAL_FT_SCALE, autobk, autobkSetup, type AutobkSetup } from '../../src/xafs/autobk.js';
import { autobkOptionsOf, loadReference, loadSpectrum, maxAbs, maxAbsDiff, referenceNames } from '../xafs/fixtures.js';
import { gpuLabel, testGpu } from '../util/gpu.js';

const ctx = await testGpu();

/** f32 basis (knots rounded to f32) and f32 FFT: a few ulps of max|A|. */
const TRANSFORM_TOL = 1e-6;
/** The f32 LM's floor: the gradient at the minimum is known to ~ε32·‖A‖·‖r‖ (see autobkBatchGpu's polish). */
const LM_CHI_TOL = 5e-4;

/** One spectrum as a one-group chunk, packed by hand from the CPU setup. */
function oneSpectrumChunk(setup: AutobkSetup) {
  const { nspl, irbkg, kout, ftwin, knots, basisK, initCoefs, nclamp } = setup;
  const nk = kout.length;
  const nc = 2 * nclamp;
  const shape: AutobkLmShape = {
    nfft: setup.nfft, inputLength: nk, nOut: irbkg, maxCoefs: nspl, nc, maxSpectra: 1, maxGroups: 1, maxBasisColumns: nspl,
    indexWords: 8 + 2 + nspl, constFloats: nspl + 4 + nk + nc * nspl + nc + nc,
  };
  const win0 = nspl + 4;
  const g0 = win0 + nk;
  const w0 = g0 + nc * nspl;
  const chiEndOffset = w0 + nc;
  const index = new Uint32Array(shape.indexWords);
  index.set([1, nspl, 2 * irbkg, nk, 0, win0, g0, w0, 0, 0]);
  const consts = new Float32Array(shape.constFloats);
  consts.set(knots.subarray(0, nspl + 4));
  for (let i = 0; i < nk; i++) consts[win0 + i] = ftwin[i]! * AUTOBK_RESIDUAL_FT_SCALE;
  const chi0 = new Float64Array(nk);
  evalBasis(basisK, initCoefs, chi0);
  const dataColumns = new Float32Array(nk);
  for (let i = 0; i < nk; i++) {
    chi0[i] = setup.chiData[i]! - chi0[i]!;
    dataColumns[i] = ftwin[i]! * AUTOBK_RESIDUAL_FT_SCALE * chi0[i]!;
  }
  for (let q = 0; q < nc; q++) {
    const i = q < nclamp ? q : nk - nc + q;
    for (let m = 0; m < 4; m++) consts[g0 + q * nspl + basisK.first[i]! + m] = basisK.vals[4 * i + m]!;
    consts[w0 + q] = q < nclamp ? setup.clampLo : setup.clampHi;
    consts[chiEndOffset + q] = chi0[i]!;
  }
  const chunk = { nSpectra: 1, nGroups: 1, nBasisColumns: nspl, index, spectraOffset: 8, columnGroupOffset: 10, consts, chiEndOffset, dataColumns, kstep: setup.kstep };
  return { shape, chunk };
}

describe.skipIf(!ctx)(`AUTOBK kernels ${gpuLabel(ctx)}`, () => {
  const made: AutobkLm[] = [];
  afterAll(() => made.forEach((m) => m.destroy()));

  // More knots than independent points: f32 normal equations cannot resolve it (see the report).
  const names = referenceNames.filter((n) => !n.includes('nknots20'));

  it.each(referenceNames)('%s: basis columns and their transforms equal the float64 Fourier design', async (name) => {
    const ref = loadReference(name);
    const { energy, mu } = loadSpectrum(ref);
    const setup = autobkSetup(energy, mu, autobkOptionsOf(ref));
    const { shape, chunk } = oneSpectrumChunk(setup);
    const lm = await AutobkLm.create(ctx!, shape);
    made.push(lm);
    lm.load(chunk, { maxIterations: 1, ptol: 0, lambda0: 1e-3 });
    const rows = 2 * setup.irbkg;
    const out = new Float32Array((setup.nspl + 1) * rows);
    await lm.readTransforms(out);
    const { A, b, initCoefs, nspl } = setup;
    const r0 = Float64Array.from(b);
    for (let j = 0; j < nspl; j++) for (let i = 0; i < rows; i++) r0[i]! += A[j * rows + i]! * initCoefs[j]!;
    expect(maxAbsDiff(out.subarray(0, rows), r0) / maxAbs(r0)).toBeLessThanOrEqual(TRANSFORM_TOL);
    expect(maxAbsDiff(out.subarray(rows), A) / maxAbs(A)).toBeLessThanOrEqual(TRANSFORM_TOL);
  });

  it.each(names)('%s: the f32 LM loop reaches the CPU minimiser', async (name) => {
    const ref = loadReference(name);
    const { energy, mu } = loadSpectrum(ref);
    const options = autobkOptionsOf(ref);
    const setup = autobkSetup(energy, mu, options);
    const { shape, chunk } = oneSpectrumChunk(setup);
    const lm = await AutobkLm.create(ctx!, shape);
    made.push(lm);
    lm.load(chunk, { maxIterations: 100, ptol: 1e-10, lambda0: 1e-3 });
    let active = 1;
    for (let k = 0; k < 100 && active > 0; k++) active = await lm.iterate(1);
    expect(active).toBe(0);
    const n = setup.nspl;
    const delta = new Float32Array(n);
    const state = new Uint32Array(4);
    const normal = new Float32Array(n * n);
    await lm.readSolution(delta, state, normal);
    expect(state[3]).toBe(AUTOBK_LM_STATUS.converged);
    const c = Float64Array.from(setup.initCoefs, (v, j) => v + delta[j]!);
    const chi = new Float64Array(setup.kout.length);
    evalBasis(setup.basisK, c, chi);
    for (let i = 0; i < chi.length; i++) chi[i] = (setup.chiData[i]! - chi[i]!) / setup.edgeStep;
    const cpu = autobk(energy, mu, { ...options, lm: { ftol: 1e-15, xtol: 1e-15 } });
    expect(maxAbsDiff(chi, cpu.chi) / maxAbs(cpu.chi)).toBeLessThanOrEqual(LM_CHI_TOL);
    // The kernel's own f32 χ² at its last accepted point.
    const chisq = new Float32Array(state.buffer)[1]!;
    expect(Math.abs(chisq - cpu.details.chisqr) / cpu.details.chisqr).toBeLessThanOrEqual(1e-4);
  });
});
