/**
 * The reduced AUTOBK problem (Fourier rows folded into their R factor) against Larch's full
 * formulation: the same ‖r‖, JᵀJ and Jᵀr everywhere, hence the same Levenberg–Marquardt path.
 */
import { expect, test } from 'vitest';
import { AutobkProblem, AutobkReducedProblem, autobkSetup, autobkSolve } from '../../src/xafs/index.js';
import { autobkOptionsOf, loadReference, loadSpectrum, maxAbs, maxAbsDiff, referenceNames } from './fixtures.js';
import { gaussian, mulberry32 } from '../util/random.js';

/** JᵀJ (n×n) and Jᵀr for a column-major m×n Jacobian. */
function normalEquations(jac: Float64Array, r: Float64Array, m: number, n: number): { jtj: Float64Array; jtr: Float64Array } {
  const jtj = new Float64Array(n * n);
  const jtr = new Float64Array(n);
  for (let a = 0; a < n; a++) {
    for (let i = 0; i < m; i++) jtr[a]! += jac[a * m + i]! * r[i]!;
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < m; i++) jtj[a * n + b]! += jac[a * m + i]! * jac[b * m + i]!;
    }
  }
  return { jtj, jtr };
}

test.each(referenceNames)('%s: reduced problem has the full one’s ‖r‖, JᵀJ and Jᵀr, and the same solution', (name) => {
  const ref = loadReference(name);
  const { energy, mu } = loadSpectrum(ref);
  const setup = autobkSetup(energy, mu, autobkOptionsOf(ref));
  const full = new AutobkProblem(setup);
  const reduced = new AutobkReducedProblem(setup);
  const n = setup.nspl;
  expect(reduced.m).toBe(n + 2 * setup.nclamp);
  const rnd = gaussian(mulberry32(13));
  for (const jitter of [0, 0.05]) {
    const c = Float64Array.from(setup.initCoefs, (v) => v + jitter * rnd());
    const rf = new Float64Array(full.m);
    const rr = new Float64Array(reduced.m);
    full.residuals(c, rf);
    reduced.residuals(c, rr);
    let ssf = 0;
    let ssr = reduced.constantSsq;
    for (const v of rf) ssf += v * v;
    for (const v of rr) ssr += v * v;
    expect(Math.abs(ssr - ssf)).toBeLessThanOrEqual(1e-11 * ssf);
    const jf = new Float64Array(full.m * n);
    const jr = new Float64Array(reduced.m * n);
    full.jacobian(c, jf);
    reduced.jacobian(c, jr);
    const ef = normalEquations(jf, rf, full.m, n);
    const er = normalEquations(jr, rr, reduced.m, n);
    expect(maxAbsDiff(er.jtj, ef.jtj)).toBeLessThanOrEqual(1e-11 * maxAbs(ef.jtj));
    expect(maxAbsDiff(er.jtr, ef.jtr)).toBeLessThanOrEqual(1e-9 * maxAbs(ef.jtr));
  }
  const sf = autobkSolve(setup, {}, full);
  const sr = autobkSolve(setup);
  expect(sr.lm.nfev).toBe(sf.lm.nfev);
  expect(Math.abs(sr.lm.chisqr - sf.lm.chisqr)).toBeLessThanOrEqual(1e-9 * sf.lm.chisqr);
  // With more knots than independent points the minimiser is not unique (spec §9).
  if (name !== 'cu_rt01__nknots20_kmax15') expect(maxAbsDiff(sr.coefs, sf.coefs)).toBeLessThanOrEqual(1e-8 * maxAbs(sf.coefs));
});
