/** measureStarsBatch with device 'cpu': the same records as measureStars, from worker threads. */
import { describe, expect, test } from 'vitest';
import { backgroundMap, measureStars, newStarMeasurement, type StarMeasurement } from '../../src/stars/index.js';
import { cpuJobBounds, measureStarsBatch } from '../../src/stars/measureBatch.js';
import { packStars, unpackStar, starsWorker } from '../../src/stars/starsWorker.js';
import { loadField } from './fields.js';

describe("measureStarsBatch, device 'cpu'", () => {
  const f = loadField('stars_gauss_iso');
  const pos = [...f.stars.map((s) => ({ x: s.x_init, y: s.y_init })), { x: NaN, y: 3 }, { x: -9, y: 4 }];
  const o = { method: 'gaussian' as const, fwhm: 3, gain: f.gain, readNoise: f.readNoise };
  const ref = measureStars(f.image, pos, o);

  test('two worker threads give exactly the records of measureStars, in input order, with progress', async () => {
    const seen: number[] = [];
    const res = await measureStarsBatch(f.image, pos, o, { device: 'cpu', workers: 2, onProgress: (done) => seen.push(done) });
    expect(res).toEqual(ref);
    expect(seen.at(-1)).toBe(pos.length);
  });

  test('workers: 0 runs in the calling thread with the same records', async () => {
    expect(await measureStarsBatch(f.image, pos, o, { device: 'cpu', workers: 0 })).toEqual(ref);
  });

  test('bad options throw with measureStars’ message; an aborted signal rejects with its reason', async () => {
    await expect(measureStarsBatch(f.image, pos, { fwhm: -1 }, { device: 'cpu' })).rejects.toThrow('fwhm = -1');
    await expect(measureStarsBatch(f.image, pos, o, { device: 'nope' as 'cpu' })).rejects.toThrow("device = 'nope'");
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await expect(measureStarsBatch(f.image, pos, o, { device: 'cpu', workers: 2, signal: ac.signal })).rejects.toThrow('stop');
  });
});

describe('packed worker results', () => {
  test('every field of a record survives the round trip: distinct values, NaN, ±0, ±∞, all flag bits, strings', () => {
    // Distinct values in every field newStarMeasurement has, so a field the packing misses fails here.
    const distinct = newStarMeasurement() as unknown as Record<string, number | string>;
    Object.keys(distinct).forEach((key, k) => {
      distinct[key] = typeof distinct[key] === 'number' ? k + 1 : `${key} ${k}`;
    });
    const special: StarMeasurement = {
      ...newStarMeasurement(),
      id: 2 ** 31 - 1,
      xInput: -0,
      yInput: Number.MAX_VALUE,
      x: Infinity,
      y: -Infinity,
      xErr: Number.MIN_VALUE,
      flux: 1 / 3,
      theta: -Math.PI / 2,
      beta: NaN,
      iterations: 200,
      method: 'moffat',
      fitReason: 'maxIterations',
      status: 'fallback',
      flags: 1023,
      message: 'position x = NaN, y = 3 is not finite — ünïcode',
    };
    const records = [distinct as unknown as StarMeasurement, special, newStarMeasurement(), { ...special, id: 7, message: '' }];
    const packed = packStars(records);
    // Each distinct string is sent once.
    expect(new Set(packed.strings).size).toBe(packed.strings.length);
    const back = records.map((_, k) => unpackStar(packed, k));
    expect(back).toEqual(records);
    for (let k = 0; k < records.length; k++) {
      expect(Object.keys(back[k] as StarMeasurement)).toEqual(Object.keys(newStarMeasurement()));
      expect(Object.is((back[k] as StarMeasurement).xInput, records[k]!.xInput)).toBe(true);
    }
  });

  test('a worker handler in this thread packs exactly the records of measureStars', () => {
    const f = loadField('stars_gauss_iso');
    const pos = [{ x: f.stars[0]!.x_init, y: f.stars[0]!.y_init }, { x: NaN, y: 1 }, { x: 1e9, y: 0 }, { x: 0, y: 0 }];
    const o = { method: 'moffat' as const, fwhm: 3 };
    const map = backgroundMap(f.image);
    const ref = measureStars(f.image, pos, o, map);
    const { width, height, data } = f.image;
    const handle = starsWorker({ width, height, data, background: map.background, noise: map.noise, options: o });
    const xy = new Float64Array(pos.flatMap((p) => [p.x, p.y]));
    // Two slices through one handler: the record it reuses carries nothing from one star to the next.
    const a = handle({ first: 0, xy: xy.subarray(0, 4) }).value;
    const b = handle({ first: 2, xy: xy.subarray(4) }).value;
    expect([unpackStar(a, 0), unpackStar(a, 1), unpackStar(b, 0), unpackStar(b, 1)]).toEqual(ref);
  });

  test('job bounds cover every star once, shrink towards the end and stay within the size limits', () => {
    for (const [n, threads] of [[0, 2], [1, 2], [31, 2], [10_000, 2], [100_000, 16], [5000, 0]] as const) {
      const b = cpuJobBounds(n, threads);
      expect(b[0]).toBe(0);
      expect(b.at(-1)).toBe(n);
      const sizes = b.slice(1).map((e, j) => e - (b[j] as number));
      expect(sizes.every((s) => s > 0 && s <= 4096)).toBe(true);
      expect(sizes.slice(0, -1).every((s) => s >= 32)).toBe(true);
      expect(sizes.every((s, j) => j === 0 || s <= (sizes[j - 1] as number))).toBe(true);
    }
  });
});
