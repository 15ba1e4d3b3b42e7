/** The precomputed AUTOBK Jacobian (constant FFT rows + exact clamp rows) against central differences. */
import { expect, test } from 'vitest';
import { AutobkProblem, autobkSetup } from '../../src/xafs/index.js';
import { autobkOptionsOf, loadReference, loadSpectrum } from './fixtures.js';
import { gaussian, mulberry32 } from '../util/random.js';

test.each(['cu_rt01', 'cu_rt01__clamps', 'scorodite_as_trans__clamp_hi10', 'ru_qas'])('%s: analytic Jacobian equals central differences within 1e-7', (name) => {
  const ref = loadReference(name);
  const { energy, mu } = loadSpectrum(ref);
  const setup = autobkSetup(energy, mu, autobkOptionsOf(ref));
  const problem = new AutobkProblem(setup);
  const { m, n } = problem;
  const rnd = gaussian(mulberry32(7));
  for (const start of [setup.initCoefs, Float64Array.from(ref.autobk_details.coefs.slice(0, n))]) {
    // Also a point off the path, where the clamp rows are far from zero.
    for (const jitter of [0, 0.05]) {
      const c = Float64Array.from(start, (v) => v + jitter * rnd());
      const jac = new Float64Array(m * n);
      problem.jacobian(c, jac);
      const rp = new Float64Array(m);
      const rm = new Float64Array(m);
      let maxErr = 0;
      let maxJ = 0;
      for (let j = 0; j < n; j++) {
        const h = 1e-5 * Math.max(1, Math.abs(c[j]!));
        const x = c[j]!;
        c[j] = x + h;
        problem.residuals(c, rp);
        c[j] = x - h;
        problem.residuals(c, rm);
        c[j] = x;
        for (let i = 0; i < m; i++) {
          const fd = (rp[i]! - rm[i]!) / (2 * h);
          maxErr = Math.max(maxErr, Math.abs(fd - jac[j * m + i]!));
          maxJ = Math.max(maxJ, Math.abs(jac[j * m + i]!));
        }
      }
      expect(maxErr).toBeLessThanOrEqual(1e-7 * maxJ);
    }
  }
});
