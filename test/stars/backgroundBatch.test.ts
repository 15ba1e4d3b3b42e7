/** The sky tile grid on worker threads: the numbers of backgroundGrid, tile for tile. */
import { describe, expect, test } from 'vitest';
import { backgroundGrid, backgroundGridBatch, backgroundMap, mapFromGrid } from '../../src/stars/index.js';
import { loadField } from './fields.js';

describe('backgroundGridBatch', () => {
  const f = loadField('stars_crowded');

  test('two worker threads and the calling thread give backgroundGrid exactly', async () => {
    const ref = backgroundGrid(f.image, { tileSize: 16 });
    expect(ref.nx * ref.ny).toBeGreaterThan(100);
    expect(await backgroundGridBatch(f.image, { tileSize: 16 }, { workers: 2 })).toEqual(ref);
    expect(await backgroundGridBatch(f.image, { tileSize: 16 }, { workers: 0 })).toEqual(ref);
  });

  test('a frame with a NaN region: the same grid, NaN tiles filled by the median filter', async () => {
    const data = f.image.data.slice();
    for (let y = 0; y < 60; y++) for (let x = 0; x < 60; x++) data[y * f.image.width + x] = NaN;
    const image = { ...f.image, data };
    const ref = backgroundGrid(image, { tileSize: 16 });
    expect(await backgroundGridBatch(image, { tileSize: 16 }, { workers: 2 })).toEqual(ref);
    expect(ref.background.every(Number.isFinite)).toBe(true);
  });

  test('the map is the grid interpolated to every pixel', () => {
    const m = backgroundMap(f.image);
    const g = mapFromGrid(backgroundGrid(f.image));
    expect(g.background).toEqual(m.background);
    expect(g.noise).toEqual(m.noise);
  });

  test('an aborted signal rejects', async () => {
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await expect(backgroundGridBatch(f.image, {}, { workers: 2, signal: ac.signal })).rejects.toThrow('stop');
  });
});
