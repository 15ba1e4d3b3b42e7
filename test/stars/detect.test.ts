/** Detection on the crowded field. */
import { expect, test } from 'vitest';
import { detectStars } from '../../src/stars/index.js';
import { loadField } from './fields.js';

test('stars_crowded: ≥ 95 % of the stars with SNR ≥ 20 and no neighbour within 5 px found, ≤ 2 % spurious', () => {
  const f = loadField('stars_crowded');
  const det = detectStars(f.image, { threshold: 5, fwhm: 3, minSeparation: 3 });
  const matchRadius = 1.5;
  const target = f.stars.filter((s) => s.snr_expected >= 20 && s.nn_dist >= 5);
  const found = target.filter((s) => det.some((d) => Math.hypot(d.x - s.x, d.y - s.y) <= matchRadius));
  // A detection is spurious when no star of the truth (any brightness) lies within the match radius.
  const spurious = det.filter((d) => !f.stars.some((s) => Math.hypot(d.x - s.x, d.y - s.y) <= matchRadius));
  console.log(`detection: ${found.length}/${target.length} found, ${spurious.length}/${det.length} spurious`);
  expect(found.length / target.length).toBeGreaterThanOrEqual(0.95);
  expect(spurious.length / det.length).toBeLessThanOrEqual(0.02);
  for (const d of det) expect(d.significance).toBeGreaterThan(5);
});

test('a blank frame yields no detection; options are validated', () => {
  const f = loadField('stars_gauss_iso');
  const blank = { data: new Float32Array(128 * 128).fill(500), width: 128, height: 128 };
  expect(detectStars(blank)).toHaveLength(0);
  expect(() => detectStars(f.image, { fwhm: 0 })).toThrow(/fwhm = 0/);
});
