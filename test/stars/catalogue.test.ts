/** The star catalogue: columns, record views, messages, counts; positions as records or columns. */
import { describe, expect, test } from 'vitest';
import {
  FLAG_EDGE,
  FLAG_FIT_FAILED,
  FLAG_INVALID_POSITION,
  FLAG_NO_BACKGROUND,
  FLAG_NO_PIXELS,
  FLAG_NO_SIGNAL,
  FLAG_OUTSIDE,
  measureStars,
  newStarMeasurement,
  StarCatalogue,
  STAR_FLOAT_FIELDS,
  STAR_INT_FIELDS,
} from '../../src/stars/index.js';
import { CAT_FLOAT_PLANES, CAT_INT_PLANES, CAT_PLANES } from '../../src/gpu/starsBatch.js';
import { allocateStarColumns, starMessage } from '../../src/stars/catalogue.js';
import { loadField } from './fields.js';

describe('StarCatalogue', () => {
  const f = loadField('stars_gauss_iso');
  const pos = [...f.stars.slice(0, 12).map((s) => ({ x: s.x_init, y: s.y_init })), { x: NaN, y: 2 }, { x: 300, y: 4 }];
  const o = { method: 'gaussian' as const, fwhm: 3, gain: f.gain };
  const cat = measureStars(f.image, pos, o);

  test('one typed array per field, in input order; records are views on them', () => {
    expect(cat.length).toBe(pos.length);
    for (const field of [...STAR_FLOAT_FIELDS, 'x', 'y', 'xInput', 'yInput'] as const) expect(cat[field]).toBeInstanceOf(Float64Array);
    for (const field of STAR_INT_FIELDS) expect(cat[field]).toBeInstanceOf(Uint32Array);
    const v = cat.at(2)!;
    expect(v.x).toBe(cat.x[2]);
    expect(v.id).toBe(2);
    // A view reads the column as it is now.
    const before = cat.flux[2]!;
    cat.flux[2] = 123;
    expect(v.flux).toBe(123);
    cat.flux[2] = before;
    expect(cat.at(pos.length)).toBeUndefined();
    expect([...cat].map((r) => r.id)).toEqual(pos.map((_, i) => i));
    const recs = cat.toRecords();
    expect(Object.keys(recs[0]!).sort()).toEqual(Object.keys(newStarMeasurement()).sort());
    expect(recs[5]!.fwhm).toBe(cat.fwhm[5]);
  });

  test('statuses, counts and messages as measureStars gives them', () => {
    const [ok, fallback, failed] = cat.countStatus();
    expect(ok + fallback + failed).toBe(cat.length);
    expect(failed).toBe(2);
    const recs = cat.toRecords();
    expect(recs[12]!.message).toBe('position x = NaN, y = 2 is not finite');
    expect(recs[13]!.message).toMatch(/x = 300, y = 4 is outside the 256×256 image/);
    expect(recs[12]!.method).toBe('gaussian');
    expect(recs[12]!.fitReason).toBe('');
    expect(recs[0]!.status).toBe('ok');
    expect(recs[0]!.fitReason).toBe('converged');
  });

  test('each flag has its message, the most telling first', () => {
    const meta = { width: 10, height: 20, method: 'moffat' as const, device: 'cpu' as const };
    expect(starMessage(FLAG_INVALID_POSITION, 6, NaN, 1, meta)).toBe('position x = NaN, y = 1 is not finite');
    expect(starMessage(FLAG_OUTSIDE, 6, 30, 1, meta)).toBe('position x = 30, y = 1 is outside the 10×20 image (pixel centres 0…9, 0…19)');
    expect(starMessage(FLAG_NO_BACKGROUND, 6, 3, 4, meta)).toBe('no background estimate near x = 3, y = 4');
    expect(starMessage(FLAG_NO_SIGNAL | FLAG_NO_PIXELS, 6, 3, 4, meta)).toBe('no valid pixel in the stamp');
    expect(starMessage(FLAG_NO_SIGNAL | FLAG_FIT_FAILED, 1, 3, 4, meta)).toBe('moffat fit stopped: maxIterations; position and shape from windowed moments');
    expect(starMessage(FLAG_NO_SIGNAL, 6, 3, 4, meta)).toBe('no positive signal under the moment window');
    expect(starMessage(FLAG_EDGE, 0, 3, 4, meta)).toBe('measured without the stamp pixels that are off the image, NaN or saturated');
    expect(starMessage(0, 0, 3, 4, meta)).toBe('');
  });

  test('positions as two columns give the catalogue of positions as records', () => {
    const x = new Float64Array(pos.map((p) => p.x));
    const y = new Float32Array(pos.map((p) => p.y));
    expect(measureStars(f.image, { x, y: Array.from(y) }, o)).toEqual(measureStars(f.image, pos.map((p, i) => ({ x: p.x, y: y[i]! })), o));
    expect(() => measureStars(f.image, { x, y: y.subarray(1) }, o)).toThrow(/x has 14 entries, y has 13/);
  });

  test('an empty list gives an empty catalogue', () => {
    const empty = measureStars(f.image, [], o);
    expect(empty.length).toBe(0);
    expect(empty.toRecords()).toEqual([]);
    expect(new StarCatalogue(0, allocateStarColumns(0), empty.meta).countStatus()).toEqual([0, 0, 0]);
  });

  test('the GPU catalogue planes are the catalogue fields, in order', () => {
    expect(CAT_FLOAT_PLANES).toBe(STAR_FLOAT_FIELDS.length);
    expect(CAT_PLANES - CAT_INT_PLANES).toBe(STAR_INT_FIELDS.length);
  });
});
