/** Detection on the crowded field, the artefact rule and the DAOFIND cuts. */
import { describe, expect, test } from 'vitest';
import { erf } from '../../src/math/studentT.js';
import { REJECT_NARROW, REJECT_SHARPNESS } from '../../src/stars/detect.js';
import { detectStars, type DetectedStar } from '../../src/stars/index.js';
import { gaussian, mulberry32 } from '../util/random.js';
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

/** Sky 1000 ± 10 ADU (seeded) with pixel-integrated Gaussian stars of this FWHM on a grid, and their centres. */
function gridField(fwhm: number, seed: number): { image: { data: Float32Array; width: number; height: number }; stars: [number, number][] } {
  const W = 200;
  const normal = gaussian(mulberry32(seed));
  const data = new Float32Array(W * W);
  for (let i = 0; i < data.length; i++) data[i] = 1000 + 10 * normal();
  const s = fwhm / 2.3548200450309493;
  const cdf = (t: number) => 0.5 * (1 + erf(t / (Math.SQRT2 * s)));
  const stars: [number, number][] = [];
  for (let gy = 0; gy < 6; gy++) {
    for (let gx = 0; gx < 6; gx++) {
      const cx = 22 + 31 * gx + 0.37 * gx;
      const cy = 22 + 31 * gy + 0.23 * gy;
      stars.push([cx, cy]);
      for (let y = Math.floor(cy) - 8; y <= Math.floor(cy) + 8; y++) {
        for (let x = Math.floor(cx) - 8; x <= Math.floor(cx) + 8; x++) {
          data[y * W + x] = (data[y * W + x] as number) + 20000 * (cdf(x + 0.5 - cx) - cdf(x - 0.5 - cx)) * (cdf(y + 0.5 - cy) - cdf(y - 0.5 - cy));
        }
      }
    }
  }
  return { image: { data, width: W, height: W }, stars };
}

describe('artefact rule and DAOFIND cuts', () => {
  test('cosmic rays and a hot pixel are rejected as narrow (kept with keepRejected), the stars all kept', () => {
    const { image, stars } = gridField(3, 5);
    const W = image.width;
    // Between the stars: two cosmic rays as on the ESO frame (sky-subtracted ADU) and one hot pixel.
    const rays: [number, number, [number, number, number][]][] = [
      [38, 38, [[0, 0, 1962], [1, 0, 433], [0, 1, 924], [0, 2, 167], [0, -1, 129]]],
      [100, 132, [[0, 0, 875], [1, 0, 451], [0, 1, 211], [1, -1, 188], [0, -1, 144]]],
      [132, 69, [[0, 0, 3000]]],
    ];
    for (const [x, y, px] of rays) for (const [dx, dy, v] of px) image.data[(y + dy) * W + x + dx] = (image.data[(y + dy) * W + x + dx] as number) + v;
    const near = (d: DetectedStar, x: number, y: number) => Math.hypot(d.x - x, d.y - y) <= 1.5;
    const kept = detectStars(image);
    for (const [x, y] of stars) expect(kept.filter((d) => near(d, x, y))).toHaveLength(1);
    for (const [x, y] of rays) expect(kept.some((d) => near(d, x, y))).toBe(false);
    const all = detectStars(image, { keepRejected: true });
    for (const [x, y] of rays) expect(all.find((d) => near(d, x, y))?.rejected).toBe(REJECT_NARROW);
    for (const d of kept) expect(d.rejected).toBe(0);
    expect(detectStars(image, { minFwhmRatio: 0 }).length).toBe(kept.length + rays.length);
  });

  test('undersampled stars (FWHM 1.4) with the default expected FWHM 3: none rejected (the rule is relative to the frame)', () => {
    const { image, stars } = gridField(1.4, 6);
    const det = detectStars(image);
    for (const [x, y] of stars) expect(det.some((d) => Math.hypot(d.x - x, d.y - y) <= 1)).toBe(true);
    expect(det).toHaveLength(stars.length);
  });

  test('daofind: photutils limits keep Gaussian stars and cut a sharp source; options are checked', () => {
    const { image, stars } = gridField(3, 7);
    image.data[69 * image.width + 132] = (image.data[69 * image.width + 132] as number) + 3000;
    const det = detectStars(image, { daofind: true, minFwhmRatio: 0, keepRejected: true });
    for (const [x, y] of stars) expect(det.find((d) => Math.hypot(d.x - x, d.y - y) <= 1)?.rejected).toBe(0);
    const hot = det.find((d) => d.peakX === 132 && d.peakY === 69);
    expect(hot && hot.rejected & REJECT_SHARPNESS).toBe(REJECT_SHARPNESS);
    for (const d of det) {
      const inside = d.sharpness > 0.2 && d.sharpness < 1 && d.roundness1 > -1 && d.roundness1 < 1 && d.roundness2 > -1 && d.roundness2 < 1;
      expect(d.rejected === 0).toBe(inside);
    }
    // A bound moved past a star's value rejects it.
    const strict = detectStars(image, { daofind: true, sharphi: 0.3, minFwhmRatio: 0 });
    expect(strict.length).toBeLessThan(stars.length);
    expect(() => detectStars(image, { sharplo: Number.NaN })).toThrow(/detectStars: sharplo = NaN must be a number/);
    expect(() => detectStars(image, { roundhi: '1' as never })).toThrow(/detectStars: roundhi = /);
    expect(() => detectStars(image, { minFwhmRatio: 2 })).toThrow(/detectStars: minFwhmRatio = 2 must be a number in \[0, 1\]/);
    expect(() => detectStars(image, { keepRejected: 1 as never })).toThrow(/detectStars: keepRejected = 1 must be true or false/);
    expect(() => detectStars(image, { daofind: 'yes' as never })).toThrow(/detectStars: daofind = /);
  });
});

test('frames narrower than the kernel (1×1 … 2×9) detect a bright pixel inside the frame or nothing, without error', () => {
  for (const [W, H] of [[1, 1], [1, 7], [7, 1], [2, 9], [9, 2], [3, 3]] as const) {
    const data = new Float32Array(W * H).fill(100);
    data[Math.floor(H / 2) * W + Math.floor(W / 2)] = 1000;
    const map = { width: W, height: H, background: new Float32Array(W * H).fill(100), noise: new Float32Array(W * H).fill(1) };
    const det = detectStars({ data, width: W, height: H }, { background: map, keepRejected: true });
    expect(det.length, `${W}×${H}`).toBeLessThanOrEqual(1);
    for (const d of det) expect(d.x >= -0.5 && d.x < W - 0.5 && d.y >= -0.5 && d.y < H - 0.5 && Number.isFinite(d.significance), `${W}×${H}`).toBe(true);
  }
});
