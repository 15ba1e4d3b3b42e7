/**
 * measureStarsBatch on the GPU against measureStars (float64, the reference) on the synthetic
 * fields, with the issue's tolerances: on every clean star, positions within 0.002 px and FWHM
 * within 0.5 % (where both paths' fits converged), converged fraction within 1 percentage point.
 * Then bands = whole frame, chunked = one dispatch, bad input → per-star statuses, abort.
 */
import { describe, expect, test } from 'vitest';
import { measureStars, type MeasureMethod, type MeasureOptions, type StarMeasurement } from '../../src/stars/index.js';
import { measureStarsBatch } from '../../src/stars/measureBatch.js';
import { gpuLabel, testGpu } from '../util/gpu.js';
import { isClean, loadField, type Field } from './fields.js';

const ctx = await testGpu();

interface Case {
  name: string;
  method: MeasureMethod;
  fwhm: number;
  beta?: number;
}

const CASES: Case[] = [
  { name: 'stars_gauss_iso', method: 'gaussian', fwhm: 3 },
  { name: 'stars_crowded', method: 'gaussian', fwhm: 3 },
  { name: 'stars_saturated_edges', method: 'gaussian', fwhm: 3 },
  { name: 'stars_moffat_iso', method: 'moffat', fwhm: 3.5 },
  { name: 'stars_moffat_iso', method: 'moffat', fwhm: 3.5, beta: 2.5 },
  { name: 'stars_elliptical', method: 'gaussianRotated', fwhm: 3.5 },
  { name: 'stars_gauss_iso', method: 'moments', fwhm: 3 },
];

function optionsOf(f: Field, c: Case): MeasureOptions {
  return {
    method: c.method,
    fwhm: c.fwhm,
    gain: f.gain,
    readNoise: f.readNoise,
    ...(f.saturation === null ? {} : { saturation: f.saturation }),
    ...(c.beta === undefined ? {} : { beta: c.beta }),
  };
}

const converged = (m: StarMeasurement): boolean => m.status === 'ok' && (m.method === 'moments' || m.fitReason === 'converged');

describe.skipIf(!ctx)(`measureStarsBatch ${gpuLabel(ctx)}`, () => {
  for (const c of CASES) {
    test(`${c.name}, ${c.method}${c.beta ? ` β = ${c.beta}` : ''}: clean stars agree with the float64 CPU path`, async () => {
      const f = loadField(c.name);
      const pos = f.stars.map((s) => ({ x: s.x_init, y: s.y_init }));
      const o = optionsOf(f, c);
      const cpu = measureStars(f.image, pos, o).toRecords();
      const gpu = (await measureStarsBatch(f.image, pos, o, { device: 'gpu', gpu: ctx! })).toRecords();
      expect(gpu).toHaveLength(pos.length);
      const clean = f.stars.map((s, i) => i).filter((i) => isClean(f.stars[i]!, c.fwhm));
      expect(clean.length).toBeGreaterThanOrEqual(20);
      const fracCpu = clean.filter((i) => converged(cpu[i]!)).length / clean.length;
      const fracGpu = clean.filter((i) => converged(gpu[i]!)).length / clean.length;
      expect(Math.abs(fracGpu - fracCpu), `converged: CPU ${fracCpu}, GPU ${fracGpu}`).toBeLessThanOrEqual(0.01);
      let compared = 0;
      for (const i of clean) {
        const a = cpu[i]!;
        const b = gpu[i]!;
        expect(b.id).toBe(i);
        if (!(converged(a) && converged(b))) continue;
        compared++;
        expect(Math.abs(b.x - a.x), `star ${i} x`).toBeLessThanOrEqual(0.002);
        expect(Math.abs(b.y - a.y), `star ${i} y`).toBeLessThanOrEqual(0.002);
        expect(Math.abs(b.fwhm / a.fwhm - 1), `star ${i} fwhm`).toBeLessThanOrEqual(0.005);
        expect(b.method).toBe(a.method);
      }
      expect(compared).toBeGreaterThanOrEqual(0.95 * clean.length);
      // Every star, clean or not, gets the CPU's status, and edge/saturation/NaN flags.
      const FLAGS = 1 | 2 | 4 | 32 | 64 | 128;
      for (let i = 0; i < pos.length; i++) {
        expect(gpu[i]!.flags & FLAGS, `star ${i} flags`).toBe(cpu[i]!.flags & FLAGS);
      }
    });
  }

  const f = loadField('stars_gauss_iso');
  const pos = f.stars.map((s) => ({ x: s.x_init, y: s.y_init }));
  const o = optionsOf(f, CASES[0]!);

  test('a frame cut into bands gives the same results as the whole frame', async () => {
    const whole = await measureStarsBatch(f.image, pos, o, { device: 'gpu', gpu: ctx! });
    // Bands of 200 rows of 256 pixels: 16 owned rows and a 92-row halo each side.
    let bands = 0;
    const banded = await measureStarsBatch(f.image, pos, o, {
      device: 'gpu',
      gpu: ctx!,
      tuning: { maxTileBytes: 4 * 256 * 200 },
      onTimings: (t) => (bands = t.bands),
    });
    expect(bands).toBeGreaterThanOrEqual(5);
    expect(banded).toEqual(whole);
  });

  test('a frame in a SharedArrayBuffer (as shared with CPU workers) gives the same results', async () => {
    const whole = await measureStarsBatch(f.image, pos, o, { device: 'gpu', gpu: ctx! });
    const data = new Float32Array(new SharedArrayBuffer(f.image.data.byteLength));
    data.set(f.image.data);
    expect(await measureStarsBatch({ ...f.image, data }, pos, o, { device: 'gpu', gpu: ctx! })).toEqual(whole);
  });

  test('more stars than one dispatch: chunked results equal one dispatch', async () => {
    const whole = await measureStarsBatch(f.image, pos, o, { device: 'gpu', gpu: ctx! });
    let chunks = 0;
    const chunked = await measureStarsBatch(f.image, pos, o, {
      device: 'gpu',
      gpu: ctx!,
      tuning: { maxStarsPerDispatch: 32, iterationsPerSubmission: 3 },
      onTimings: (t) => (chunks = t.chunks),
    });
    expect(chunks).toBeGreaterThanOrEqual(3);
    expect(chunked).toEqual(whole);
  });

  test('positions outside the image, NaN positions and a NaN region give per-star statuses, as on the CPU', async () => {
    const data = f.image.data.slice();
    const s0 = f.stars[0]!;
    // A NaN block over star 0's core, and a whole NaN corner with a star position inside.
    for (let y = Math.round(s0.y) - 1; y <= Math.round(s0.y) + 1; y++) for (let x = Math.round(s0.x) - 1; x <= Math.round(s0.x) + 1; x++) data[y * 256 + x] = NaN;
    for (let y = 0; y < 40; y++) for (let x = 0; x < 40; x++) data[y * 256 + x] = NaN;
    const image = { data, width: 256, height: 256 };
    const bad = [
      ...pos.slice(0, 5),
      { x: -3, y: 10 },
      { x: 10, y: 1e6 },
      { x: NaN, y: 20 },
      { x: 30, y: Infinity },
      { x: 20, y: 20 },
      { x: 255.4, y: 0 },
    ];
    const cpu = measureStars(image, bad, o).toRecords();
    const gpu = (await measureStarsBatch(image, bad, o, { device: 'gpu', gpu: ctx! })).toRecords();
    expect(gpu).toHaveLength(bad.length);
    for (let i = 0; i < bad.length; i++) {
      expect(gpu[i]!.status, `entry ${i}: ${cpu[i]!.message}`).toBe(cpu[i]!.status);
      expect(gpu[i]!.flags, `entry ${i}`).toBe(cpu[i]!.flags);
      expect(gpu[i]!.message, `entry ${i}`).toBe(cpu[i]!.message);
    }
    expect(gpu[7]!.status).toBe('failed');
    expect(gpu[5]!.flags & 64).toBe(64);
  });

  test('an aborted signal rejects with its reason, before and during the run; the device stays usable', async () => {
    const before = new AbortController();
    before.abort(new Error('stopped before'));
    await expect(measureStarsBatch(f.image, pos, o, { device: 'gpu', gpu: ctx!, signal: before.signal })).rejects.toThrow('stopped before');
    const during = new AbortController();
    await expect(
      measureStarsBatch(f.image, pos, o, {
        device: 'gpu',
        gpu: ctx!,
        signal: during.signal,
        tuning: { iterationsPerSubmission: 1 },
        onProgress: () => during.abort(new Error('stopped during')),
      }),
    ).rejects.toThrow('stopped during');
    const again = await measureStarsBatch(f.image, pos.slice(0, 4), o, { device: 'gpu', gpu: ctx! });
    expect(again.status).toEqual(measureStars(f.image, pos.slice(0, 4), o).status);
  });
});
