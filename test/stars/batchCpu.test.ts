/** measureStarsBatch with device 'cpu': the same records as measureStars, from worker threads. */
import { describe, expect, test } from 'vitest';
import { measureStars } from '../../src/stars/index.js';
import { measureStarsBatch } from '../../src/stars/measureBatch.js';
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
