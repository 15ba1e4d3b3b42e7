/** measureStarsBatch with device 'cpu': the same catalogue as measureStars, from worker threads writing shared columns. */
import { describe, expect, test } from 'vitest';
import { backgroundMap, measureStars, newStarMeasurement, type StarMeasurement } from '../../src/stars/index.js';
import { cpuJobBounds, measureStarsBatch } from '../../src/stars/measureBatch.js';
import { allocateStarColumns, StarCatalogue, writeStarRow } from '../../src/stars/catalogue.js';
import { starsWorker } from '../../src/stars/starsWorker.js';
import { loadField } from './fields.js';

describe("measureStarsBatch, device 'cpu'", () => {
  const f = loadField('stars_gauss_iso');
  const pos = [...f.stars.map((s) => ({ x: s.x_init, y: s.y_init })), { x: NaN, y: 3 }, { x: -9, y: 4 }];
  const o = { method: 'gaussian' as const, fwhm: 3, gain: f.gain, readNoise: f.readNoise };
  const ref = measureStars(f.image, pos, o);

  test('two worker threads give exactly the catalogue of measureStars, in input order, with progress', async () => {
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

describe('catalogue rows written by workers', () => {
  test('every field of a record survives a row of the columns: distinct values, NaN, ±0, ±∞, all flag bits', () => {
    // Distinct values in every numeric field newStarMeasurement has, so a field the columns miss fails here.
    const distinct = newStarMeasurement() as unknown as Record<string, number | string>;
    Object.keys(distinct).forEach((key, k) => {
      if (typeof distinct[key] === 'number') distinct[key] = k + 1;
    });
    const special: StarMeasurement = {
      ...newStarMeasurement(),
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
      flags: 2047,
    };
    const records = [distinct as unknown as StarMeasurement, special, newStarMeasurement()];
    const columns = allocateStarColumns(records.length, true);
    records.forEach((r, k) => writeStarRow(columns, k, r));
    const cat = new StarCatalogue(records.length, columns, { width: 10, height: 10, method: 'moffat', device: 'cpu' });
    const back = cat.toRecords();
    for (let k = 0; k < records.length; k++) {
      const r = records[k]!;
      const b = back[k]!;
      expect(Object.keys(b).sort()).toEqual(Object.keys(newStarMeasurement()).sort());
      for (const key of Object.keys(r) as (keyof StarMeasurement)[]) {
        if (key === 'id' || key === 'message') continue;
        expect(Object.is(b[key], r[key]), `row ${k} ${key}: ${String(b[key])} vs ${String(r[key])}`).toBe(true);
      }
      expect(b.id).toBe(k);
      expect(cat.at(k)!.x).toBe(r.x);
    }
  });

  test('a worker handler in this thread writes exactly the rows of measureStars', () => {
    const f = loadField('stars_gauss_iso');
    const pos = [{ x: f.stars[0]!.x_init, y: f.stars[0]!.y_init }, { x: NaN, y: 1 }, { x: 1e9, y: 0 }, { x: 0, y: 0 }];
    const o = { method: 'moffat' as const, fwhm: 3 };
    const map = backgroundMap(f.image);
    const ref = measureStars(f.image, pos, o, map);
    const { width, height, data } = f.image;
    const columns = allocateStarColumns(pos.length, true);
    pos.forEach((p, k) => {
      columns.xInput[k] = p.x;
      columns.yInput[k] = p.y;
    });
    const handle = starsWorker({ width, height, data, background: map.background, noise: map.noise, options: o, columns });
    // Two ranges through one handler: the record it reuses carries nothing from one star to the next.
    handle({ first: 0, count: 2 });
    handle({ first: 2, count: 2 });
    expect(new StarCatalogue(pos.length, columns, ref.meta)).toEqual(ref);
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
