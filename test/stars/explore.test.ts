import { test } from 'vitest';
import { measureStars, type MeasureMethod } from '../../src/stars/index.js';
import { isClean, loadField, median, rms2d } from './fields.js';

const cases: [string, MeasureMethod, number][] = [
  ['stars_gauss_iso', 'gaussian', 3],
  ['stars_gauss_iso', 'moments', 3],
  ['stars_moffat_iso', 'moffat', 3.5],
  ['stars_elliptical', 'gaussianRotated', 3.5],
  ['stars_crowded', 'gaussian', 3],
  ['stars_saturated_edges', 'moffat', 3.5],
];
test('explore', () => {
  for (const [name, method, fwhm] of cases) {
    for (const precision of ['f64', 'f32'] as const) {
      const f = loadField(name);
      const t0 = performance.now();
      const res = measureStars(f.image, f.stars.map((s) => ({ x: s.x_init, y: s.y_init })), { method, fwhm, gain: f.gain, readNoise: f.readNoise, saturation: f.saturation ?? undefined, precision });
      const dt = performance.now() - t0;
      const clean = f.stars.map((s, i) => [s, res[i]!] as const).filter(([s]) => isClean(s, fwhm));
      const dx = clean.map(([s, r]) => r.x - s.x);
      const dy = clean.map(([s, r]) => r.y - s.y);
      const crlb = Math.sqrt(clean.reduce((a, [s]) => a + (s.crlb_x ?? 0) ** 2 + (s.crlb_y ?? 0) ** 2, 0) / clean.length);
      const hi = clean.filter(([s]) => s.snr_expected >= 300);
      const rmsHi = rms2d(hi.map(([s, r]) => r.x - s.x), hi.map(([s, r]) => r.y - s.y));
      const fw = median(clean.map(([s, r]) => r.fwhm / s.fwhm - 1));
      const conv = clean.filter(([, r]) => r.fitReason === 'converged').length;
      const ell = clean.filter(([s]) => s.axis_ratio < 0.8);
      const de = median(ell.map(([s, r]) => Math.abs(r.eccentricity - s.eccentricity)));
      const dth = median(ell.map(([s, r]) => { let d = r.theta - s.theta; d = ((d % Math.PI) + 1.5 * Math.PI) % Math.PI - Math.PI / 2; return Math.abs(d) * 180 / Math.PI; }));
      const reasons: Record<string, number> = {};
      for (const [, r] of clean) reasons[r.fitReason] = (reasons[r.fitReason] ?? 0) + 1;
      const its = median(clean.map(([, r]) => r.iterations));
      console.log(`${name} ${method} ${precision}: n=${clean.length} rms=${rms2d(dx, dy).toFixed(5)} crlb=${crlb.toFixed(5)} ratio=${(rms2d(dx, dy) / crlb).toFixed(3)} hi(n=${hi.length})=${rmsHi.toFixed(5)} fwhmMed=${fw.toFixed(4)} conv=${conv}/${clean.length} dEcc=${de.toFixed(3)} dTh=${dth.toFixed(2)} its=${its} ${JSON.stringify(reasons)} ${dt.toFixed(0)}ms`);
    }
  }
});
