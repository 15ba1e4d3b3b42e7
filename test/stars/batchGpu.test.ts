/**
 * measureStarsBatch on the GPU against measureStars (float64, the reference) on the synthetic
 * fields, with the issue's tolerances: on every clean star, positions within 0.002 px and FWHM
 * within 0.5 % (where both paths' fits converged), converged fraction within 1 percentage point.
 * Then bands = whole frame, chunked = one dispatch, bad input → per-star statuses, abort.
 */
import { describe, expect, test } from 'vitest';
import { measureStars, type MeasureMethod, type MeasureOptions } from '../../src/stars/index.js';
import { backgroundGrid, backgroundMap, uploadFrame } from '../../src/stars/index.js';
import { measureStarsBatch } from '../../src/stars/measureBatch.js';
import { gpuLabel, testGpu } from '../util/gpu.js';
import { converged, expectGpuMatchesCpu, isClean, loadField, type Field } from './fields.js';

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
      expectGpuMatchesCpu(cpu, gpu, clean, {
        positionTolerance: () => 0.002,
        minCompared: 0.95,
        also: (a, b) => expect(b.method).toBe(a.method),
      });
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

  test('pixel metrics (peak, Laplacian, DAOFIND sharpness and roundness) agree with the CPU, with NaN and ±∞ pixels beside stars', async () => {
    const data = f.image.data.slice();
    // Two pixels from stars 0-2's centre pixels: inside the DAOFIND window, outside the 3×3 core.
    for (const [k, v] of [[0, Infinity], [1, -Infinity], [2, NaN]] as const) {
      const s = f.stars[k]!;
      data[(Math.round(s.y) - 2) * 256 + Math.round(s.x) + 1] = v;
    }
    const image = { data, width: 256, height: 256 };
    const cpu = measureStars(image, pos, o).toRecords();
    const gpu = (await measureStarsBatch(image, pos, o, { device: 'gpu', gpu: ctx! })).toRecords();
    let compared = 0;
    for (let i = 0; i < pos.length; i++) {
      const a = cpu[i]!;
      const b = gpu[i]!;
      // Metrics are taken at the final centre pixel: compare where both paths chose the same one.
      if (!(converged(a) && converged(b)) || Math.round(a.x) !== Math.round(b.x) || Math.round(a.y) !== Math.round(b.y)) continue;
      compared++;
      // float32 against float64, on sums of a few dozen sky-subtracted pixels.
      for (const k of ['peak', 'laplacianSnr', 'sharpness', 'roundness1', 'roundness2'] as const) {
        expect(Number.isFinite(b[k]), `star ${i} ${k}`).toBe(Number.isFinite(a[k]));
        if (Number.isFinite(a[k])) expect(Math.abs(b[k] - a[k]), `star ${i} ${k}: CPU ${a[k]}, GPU ${b[k]}`).toBeLessThanOrEqual(2e-3 * Math.max(1, Math.abs(a[k])));
      }
    }
    expect(compared).toBeGreaterThanOrEqual(0.8 * pos.length);
    for (const k of [0, 1, 2]) expect(Number.isFinite(gpu[k]!.roundness1), `star ${k}`).toBe(true);
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

  test('a frame handle reused for 3 position lists gives the results of 3 separate calls', async () => {
    const lists = [pos.slice(0, 40), pos.slice(25), [...pos.slice(10, 30)].reverse()];
    const frame = await uploadFrame(ctx!, f.image);
    try {
      for (const list of lists) {
        const separate = await measureStarsBatch(f.image, list, o, { device: 'gpu', gpu: ctx! });
        expect(await measureStarsBatch(frame, list, o)).toEqual(separate);
      }
      // Another frame of the same size uploaded into the same buffers, then the first again.
      const other = { ...f.image, data: f.image.data.map((v) => v + 50) };
      await uploadFrame(ctx!, other, { into: frame });
      expect(await measureStarsBatch(frame, lists[0]!, o)).toEqual(await measureStarsBatch(other, lists[0]!, o, { device: 'gpu', gpu: ctx! }));
      await uploadFrame(ctx!, f.image, { into: frame });
      expect(await measureStarsBatch(frame, lists[1]!, o)).toEqual(await measureStarsBatch(f.image, lists[1]!, o, { device: 'gpu', gpu: ctx! }));
    } finally {
      frame.destroy();
    }
    await expect(measureStarsBatch(frame, lists[0]!, o)).rejects.toThrow(/destroyed/);
  });

  test("device 'auto' says where it measured: the CPU on a software adapter (as autobkBatch), else the GPU", async () => {
    const cat = await measureStarsBatch(f.image, pos, o, { device: 'auto', workers: 0 });
    expect(cat.meta.device).toBe(ctx!.adapterInfo.isFallbackAdapter ? 'cpu' : 'gpu');
    if (cat.meta.device === 'cpu') expect(cat).toEqual(measureStars(f.image, pos, o));
  });

  test('the catalogue: float32 columns viewing one read-back copy, float64 positions, ≤ 3 round trips, positions as columns or records', async () => {
    const xs = new Float64Array(pos.map((p) => p.x));
    const ys = new Float64Array(pos.map((p) => p.y));
    let submissions = 0;
    const cat = await measureStarsBatch(f.image, { x: xs, y: ys }, o, { device: 'gpu', gpu: ctx!, onTimings: (t) => (submissions = t.submissions) });
    expect(submissions).toBeGreaterThanOrEqual(1);
    expect(submissions).toBeLessThanOrEqual(3);
    expect(cat.meta.device).toBe('gpu');
    expect(cat.flux).toBeInstanceOf(Float32Array);
    expect(cat.x).toBeInstanceOf(Float64Array);
    const planes = [cat.xErr, cat.flux, cat.fwhm, cat.snr, cat.chi2Reduced, cat.status, cat.flags, cat.iterations];
    for (const p of planes) expect(p.buffer).toBe(cat.flux.buffer);
    expect(cat.xInput).toEqual(xs);
    expect(cat).toEqual(await measureStarsBatch(f.image, pos, o, { device: 'gpu', gpu: ctx! }));
    // Views: a record reads the columns.
    const v = cat.at(3)!;
    expect(v.x).toBe(cat.x[3]);
    expect(v.status).toBe('ok');
    expect(cat.at(-1)!.id).toBe(cat.length - 1);
    // A catalogue no longer needed lends its memory to the next call: same results, same buffers.
    const again = await measureStarsBatch(f.image, pos, o, { device: 'gpu', gpu: ctx! });
    const reused = await measureStarsBatch(f.image, pos, o, { device: 'gpu', gpu: ctx!, into: again });
    expect(reused.flux.buffer).toBe(again.flux.buffer);
    expect(reused.x).toBe(again.x);
    expect(reused).toEqual(cat);
    await expect(measureStarsBatch(f.image, pos.slice(1), o, { device: 'gpu', gpu: ctx!, into: reused })).rejects.toThrow(/into must be a catalogue .* as many rows as positions \(\d+\); it has/);
    await expect(measureStarsBatch(f.image, pos, o, { device: 'gpu', gpu: ctx!, into: measureStars(f.image, pos, o) })).rejects.toThrow(/not from the GPU path/);
    // SNR on the GPU agrees with the float64 CPU path.
    const cpu = measureStars(f.image, pos, o);
    for (let i = 0; i < cat.length; i++) {
      if (cat.status[i] !== 0 || cpu.status[i] !== 0) continue;
      expect(Math.abs(cat.snr[i]! / cpu.snr[i]! - 1), `star ${i} snr`).toBeLessThan(0.01);
      expect(Math.abs(cat.ellipticity[i]! - cpu.ellipticity[i]!), `star ${i} ellipticity`).toBeLessThan(0.02);
      expect(Math.abs(cat.semimajorSigma[i]! / cpu.semimajorSigma[i]! - 1), `star ${i} σ major`).toBeLessThan(0.01);
    }
  });

  test('sky as full planes (a map without its grid) agrees with the sky grid interpolated on the GPU', async () => {
    const map = backgroundMap(f.image);
    const planes = { width: map.width, height: map.height, background: map.background, noise: map.noise };
    const a = await measureStarsBatch(f.image, pos, o, { device: 'gpu', gpu: ctx!, background: planes });
    const b = await measureStarsBatch(f.image, pos, o, { device: 'gpu', gpu: ctx!, background: backgroundGrid(f.image) });
    expect(b.status).toEqual(a.status);
    expect(b.flags).toEqual(a.flags);
    for (let i = 0; i < a.length; i++) {
      if (a.status[i] !== 0) continue;
      expect(Math.abs(b.background[i]! - a.background[i]!), `star ${i} sky`).toBeLessThanOrEqual(1e-4 * Math.abs(a.background[i]!) + 1e-6);
      expect(Math.abs(b.x[i]! - a.x[i]!), `star ${i} x`).toBeLessThanOrEqual(1e-3);
    }
  });
});
