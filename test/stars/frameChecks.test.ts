/**
 * frameChecks: the crowding flag against a brute-force neighbour search, the artefact rule on
 * hand-made columns, and the same flags from measureStars, the CPU batch and the GPU batch on a
 * field with cosmic rays and a hot pixel added.
 */
import { describe, expect, test } from 'vitest';
import { allocateStarColumns, STATUS_FAILED, STATUS_FALLBACK, STATUS_OK } from '../../src/stars/catalogue.js';
import { frameChecks } from '../../src/stars/frameChecks.js';
import { FLAG_ARTEFACT, FLAG_CENTRE_DRIFT, FLAG_CROWDED, FLAG_SATURATED, FLAG_STRUCTURED_SKY, flagNames, measureStars, stampRadius } from '../../src/stars/index.js';
import { measureStarsBatch } from '../../src/stars/measureBatch.js';
import { gpuLabel, testGpu } from '../util/gpu.js';
import { mulberry32 } from '../util/random.js';
import { loadField } from './fields.js';
import { gradientNebulaSpec, synthField } from './synthField.js';

const ctx = await testGpu();

describe('frameChecks on columns', () => {
  test('crowded: exactly the stars with another source within the stamp radius in x and y (brute force)', () => {
    const rnd = mulberry32(8192);
    const W = 1000;
    const H = 800;
    const n = 3000;
    const c = allocateStarColumns(n);
    for (let k = 0; k < n; k++) {
      c.xInput[k] = rnd() * (W + 40) - 20;
      c.yInput[k] = rnd() * (H + 40) - 20;
      // Every tenth measured position is NaN: the input position stands in for it.
      c.x[k] = k % 10 === 0 ? NaN : (c.xInput[k] as number) + (rnd() - 0.5);
      c.y[k] = k % 10 === 0 ? NaN : (c.yInput[k] as number) + (rnd() - 0.5);
      c.fwhm[k] = 3;
      c.status[k] = STATUS_OK;
    }
    frameChecks(c, W, H, { fwhm: 3 });
    const R = stampRadius(3);
    const pos = (k: number): [number, number] => (Number.isFinite(c.x[k]) ? [c.x[k] as number, c.y[k] as number] : [c.xInput[k] as number, c.yInput[k] as number]);
    const inside = (p: [number, number]) => p[0] >= -0.5 && p[0] < W - 0.5 && p[1] >= -0.5 && p[1] < H - 0.5;
    let crowded = 0;
    for (let k = 0; k < n; k++) {
      const p = pos(k);
      let expected = false;
      if (inside(p)) {
        for (let o = 0; o < n && !expected; o++) {
          const q = pos(o);
          expected = o !== k && inside(q) && Math.abs(q[0] - p[0]) <= R && Math.abs(q[1] - p[1]) <= R;
        }
      }
      expect(((c.flags[k] as number) & FLAG_CROWDED) !== 0, `row ${k}`).toBe(expected);
      if (expected) crowded++;
    }
    // Both outcomes occur often enough for the comparison to mean something.
    expect(crowded).toBeGreaterThan(300);
    expect(crowded).toBeLessThan(n - 300);
  });

  test('artefact: FWHM below half the median of the stars not failed and a peak above 4σ; failed rows untouched; no rule under five widths', () => {
    const widths = [2.8, 3.0, 3.1, 2.9, 3.2, 3.0, 1.4, 1.6, 0.4, 1.0];
    const c = allocateStarColumns(widths.length);
    widths.forEach((f, k) => {
      c.x[k] = 100 * k;
      c.y[k] = 50;
      c.fwhm[k] = f;
      c.backgroundNoise[k] = 10;
      // The last is narrow but only 3.5σ high: noise, not an artefact.
      c.peak[k] = k === 9 ? 35 : 500;
      c.status[k] = k === 8 ? STATUS_FAILED : STATUS_OK;
    });
    frameChecks(c, 1000, 100);
    // Median of the nine not failed: 2.9, limit 1.45.
    expect(Array.from(c.flags, (f) => (f & FLAG_ARTEFACT) !== 0)).toEqual([false, false, false, false, false, false, true, false, false, false]);
    expect(c.status[6]).toBe(STATUS_FAILED);
    expect(c.status[7]).toBe(STATUS_OK);
    expect(c.status[9]).toBe(STATUS_OK);
    expect(c.flags[8]).toBe(0);

    const few = allocateStarColumns(4);
    [3, 3, 3, 0.5].forEach((f, k) => {
      few.x[k] = 100 * k;
      few.y[k] = 50;
      few.fwhm[k] = f;
      few.peak[k] = 500;
      few.backgroundNoise[k] = 10;
    });
    frameChecks(few, 1000, 100);
    expect(Array.from(few.flags)).toEqual([0, 0, 0, 0]);
    expect(() => frameChecks(few, 1000, 100, { fwhm: 0 })).toThrow(/frameChecks: fwhm = 0/);
  });
});

describe('centre not believed: the start position kept', () => {
  test('columns: a centre moved beyond max(1.5 px, fwhm), or wider than 1.5 × the median FWHM on a sky over 2 × the median σ, goes back to the start with status fallback', () => {
    // (move in px, FWHM, sky σ, saturated, failed) per row; fwhm 3: drift bound 3 px; medians
    // 3.1 and 10 (of the rows not failed): width limit 4.65, sky σ limit 20.
    const rows: [number, number, number, boolean, boolean][] = [
      [0.7, 3.0, 10, false, false], [2.9, 3.1, 10, false, false], [3.1, 2.9, 10, false, false], [8, 3.0, 10, false, false],
      [0.5, 4.4, 40, false, false], [0.5, 4.8, 40, false, false], [0.5, 4.8, 19, false, false], [0.5, 9, 40, true, false],
      [8, 9, 40, false, true], [0.2, 3.0, 10, false, false],
    ];
    const c = allocateStarColumns(rows.length);
    rows.forEach(([move, fwhm, noise, saturated, failed], k) => {
      c.xInput[k] = 40 * k + 20;
      c.yInput[k] = 50;
      c.x[k] = (c.xInput[k] as number) + 0.6 * move;
      c.y[k] = 50 - 0.8 * move;
      c.fwhm[k] = fwhm;
      c.backgroundNoise[k] = noise;
      c.flags[k] = saturated ? FLAG_SATURATED : 0;
      c.status[k] = failed ? STATUS_FAILED : STATUS_OK;
    });
    frameChecks(c, 440, 100, { fwhm: 3 });
    const bits = FLAG_CENTRE_DRIFT | FLAG_STRUCTURED_SKY;
    expect(Array.from(c.flags, (f) => flagNames(f & bits).join())).toEqual(['', '', 'centreDrift', 'centreDrift', '', 'structuredSky', '', '', '', '']);
    expect(Array.from(c.status)).toEqual([0, 0, 1, 1, 0, 1, 0, 0, 2, 0].map((v) => [STATUS_OK, STATUS_FALLBACK, STATUS_FAILED][v]));
    for (const k of [2, 3, 5]) expect([c.x[k], c.y[k]]).toEqual([c.xInput[k], c.yInput[k]]);
    for (const k of [0, 1, 4, 6, 7, 8, 9]) expect(c.x[k]).not.toBe(c.xInput[k]);
  });

  // A nebula field of Moffat stars (skies.test.ts): a faint star's fit and moments climb a blob
  // 13.9 px from the truth; another star's window, 7.9 px wide, takes in the blob, whose sky σ is
  // 3.2 × the frame's median.
  const f = synthField(gradientNebulaSpec('moffat', 2));
  const positions = { x: Float64Array.from(f.stars, (s) => s.x_init), y: Float64Array.from(f.stars, (s) => s.y_init) };
  const options = { method: 'moffat' as const, fwhm: 3.5, background: 'annulus' as const, gain: f.gain, readNoise: f.readNoise };
  const reference = measureStars(f.image, positions, options);
  const bits = FLAG_CENTRE_DRIFT | FLAG_STRUCTURED_SKY;

  test('measureStars on the nebula: both flags raised, status fallback, the start position and a message saying why', () => {
    const rows = reference.toRecords();
    const drift = rows.filter((r) => r.flags & FLAG_CENTRE_DRIFT);
    const wide = rows.filter((r) => r.flags & FLAG_STRUCTURED_SKY);
    expect(drift.length).toBeGreaterThanOrEqual(1);
    expect(wide.length).toBeGreaterThanOrEqual(1);
    for (const r of [...drift, ...wide]) {
      expect(r.status).toBe('fallback');
      expect([r.x, r.y]).toEqual([r.xInput, r.yInput]);
    }
    expect(drift[0]!.message).toMatch(/moved more than max\(1\.5 px, the expected FWHM\)/);
    expect(wide[0]!.message).toMatch(/wider than 1\.5 × the frame's median FWHM on a sky more than twice as noisy/);
  });

  test('CPU batch (in the calling thread and on workers): the same flags, statuses and positions', async () => {
    for (const workers of [0, 2]) {
      const cat = await measureStarsBatch(f.image, positions, options, { device: 'cpu', workers });
      expect(Array.from(cat.flags)).toEqual(Array.from(reference.flags));
      expect(Array.from(cat.status)).toEqual(Array.from(reference.status));
      expect(Array.from(cat.x)).toEqual(Array.from(reference.x));
    }
  });

  test.skipIf(!ctx)(`GPU batch ${gpuLabel(ctx)}: the same stars flagged, with the start position`, async () => {
    const cat = await measureStarsBatch(f.image, positions, options, { device: 'gpu', ...(ctx ? { gpu: ctx } : {}) });
    expect(Array.from(cat.flags, (v) => v & bits)).toEqual(Array.from(reference.flags, (v) => v & bits));
    expect(Array.from(cat.status)).toEqual(Array.from(reference.status));
    for (let k = 0; k < cat.length; k++) if (cat.flags[k]! & bits) expect([cat.x[k], cat.y[k]]).toEqual([positions.x[k], positions.y[k]]);
  });
});

/**
 * Two cosmic rays as the ESO frame has them (sky-subtracted ADU at (dx, dy) from their brightest
 * pixel, copied from sep_image.fits at (89, 17) and (227, 23)): a few pixels with sharp edges.
 */
const COSMIC_RAYS: [number, number, number][][] = [
  [[0, 0, 1962], [1, 0, 433], [0, 1, 924], [0, 2, 167], [0, -1, 129]],
  [[0, 0, 875], [1, 0, 451], [0, 1, 211], [1, -1, 188], [0, -1, 144]],
];

/** stars_gauss_iso with the two cosmic rays and a single hot pixel added in empty sky, and their positions after the stars'. */
function fieldWithArtefacts() {
  const f = loadField('stars_gauss_iso');
  const data = Float32Array.from(f.image.data);
  const W = f.image.width;
  const free = (x: number, y: number) => f.stars.every((s) => Math.hypot(s.x - x, s.y - y) > 12);
  const spots: [number, number][] = [];
  for (let y = 20; y < 236 && spots.length < 3; y += 7) for (let x = 20; x < 236 && spots.length < 3; x += 7) if (free(x, y) && spots.every(([a, b]) => Math.hypot(a - x, b - y) > 30)) spots.push([x, y]);
  expect(spots).toHaveLength(3);
  COSMIC_RAYS.forEach((ray, i) => {
    const [x, y] = spots[i] as [number, number];
    for (const [dx, dy, v] of ray) data[(y + dy) * W + x + dx] = (data[(y + dy) * W + x + dx] as number) + v;
  });
  const [hx, hy] = spots[2] as [number, number];
  data[hy * W + hx] = (data[hy * W + hx] as number) + 5000;
  const xs = [...f.stars.map((s) => s.x), ...spots.map((p) => p[0])];
  const ys = [...f.stars.map((s) => s.y), ...spots.map((p) => p[1])];
  return { image: { ...f.image, data }, positions: { x: Float64Array.from(xs), y: Float64Array.from(ys) }, n: f.stars.length };
}

describe('artefacts and crowding flagged on every measurement path', () => {
  const { image, positions, n } = fieldWithArtefacts();
  const options = { method: 'gaussian' as const, fwhm: 3 };
  const reference = measureStars(image, positions, options);

  test('measureStars: the cosmic rays failed with FLAG_ARTEFACT, the hot pixel failed, no star flagged artefact', () => {
    for (const k of [n, n + 1]) {
      expect(reference.flags[k]! & FLAG_ARTEFACT).toBe(FLAG_ARTEFACT);
      expect(reference.status[k]).toBe(STATUS_FAILED);
    }
    // A lone pixel has no width for the moments to measure: failed (noShape) before any frame check.
    expect(reference.status[n + 2]).toBe(STATUS_FAILED);
    for (let k = 0; k < n; k++) expect(reference.flags[k]! & FLAG_ARTEFACT).toBe(0);
  });

  test('CPU batch (in the calling thread and on workers): the same flags and statuses', async () => {
    for (const workers of [0, 2]) {
      const cat = await measureStarsBatch(image, positions, options, { device: 'cpu', workers });
      expect(Array.from(cat.flags)).toEqual(Array.from(reference.flags));
      expect(Array.from(cat.status)).toEqual(Array.from(reference.status));
    }
  });

  test.skipIf(!ctx)(`GPU batch ${gpuLabel(ctx)}: the same artefact and crowding flags`, async () => {
    const cat = await measureStarsBatch(image, positions, options, { device: 'gpu', ...(ctx ? { gpu: ctx } : {}) });
    const bits = FLAG_ARTEFACT | FLAG_CROWDED;
    expect(Array.from(cat.flags, (f) => f & bits)).toEqual(Array.from(reference.flags, (f) => f & bits));
  });
});
