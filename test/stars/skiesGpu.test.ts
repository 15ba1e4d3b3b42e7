/**
 * measureStarsBatch on the GPU against measureStars (float64, the reference) on the fields of
 * skies.test.ts (a sky gradient with nebula blobs, annulus plane and map; undersampled stars),
 * with the tolerances of batchGpu.test.ts: on every clean star where both paths converged,
 * positions within 0.002 px and FWHM within 0.5 %, converged fractions within 1 percentage point.
 * A position may differ by up to 1 % of the star's own 1σ error where that is more: with the sky
 * slope fitted, the faintest stars (SNR ≈ 6, σ ≈ 0.6 px) have a χ² valley so flat that the
 * float32 kernel stops where float32 no longer resolves χ² (stars_fit.wgsl), 0.002 px off.
 */
import { describe, expect, test } from 'vitest';
import { measureStars, type MeasureOptions } from '../../src/stars/index.js';
import { measureStarsBatch } from '../../src/stars/measureBatch.js';
import { gpuLabel, testGpu } from '../util/gpu.js';
import { expectGpuMatchesCpu, isClean } from './fields.js';
import { gradientNebulaSpec, synthField, undersampledSpec, type SynthField } from './synthField.js';

const ctx = await testGpu();

/** 0.002 px, or 1 % of the CPU fit's 1σ error where that is more (moments have none). */
const positionTolerance = (err: number): number => (Number.isFinite(err) ? Math.max(0.002, 0.01 * err) : 0.002);


const gauss = synthField(gradientNebulaSpec('gaussian'));
const moffat = synthField(gradientNebulaSpec('moffat'));
const under = synthField(undersampledSpec());

const CASES: { name: string; f: SynthField; o: MeasureOptions }[] = [
  { name: 'gradient, gaussian, annulus plane', f: gauss, o: { method: 'gaussian', fwhm: 3, background: 'annulus' } },
  { name: 'gradient, gaussian, annulus plane, slope not fitted', f: gauss, o: { method: 'gaussian', fwhm: 3, background: 'annulus', skySlope: 'fixed' } },
  { name: 'gradient, moffat, annulus plane, slope fitted', f: moffat, o: { method: 'moffat', fwhm: 3.5, background: 'annulus', skySlope: 'fit' } },
  { name: 'gradient, gaussian, map per pixel', f: gauss, o: { method: 'gaussian', fwhm: 3, background: 'map' } },
  { name: 'gradient, moments, annulus plane', f: gauss, o: { method: 'moments', fwhm: 3, background: 'annulus' } },
  { name: 'gradient, moffat, annulus plane', f: moffat, o: { method: 'moffat', fwhm: 3.5, background: 'annulus' } },
  { name: 'undersampled, moments', f: under, o: { method: 'moments', fwhm: 1.5 } },
  { name: 'undersampled, gaussian', f: under, o: { method: 'gaussian', fwhm: 1.5 } },
];

describe.skipIf(!ctx)(`stars on real skies, GPU = CPU ${gpuLabel(ctx)}`, () => {
  for (const c of CASES) {
    test(c.name, async () => {
      const pos = c.f.stars.map((s) => ({ x: s.x_init, y: s.y_init }));
      const o: MeasureOptions = { gain: c.f.gain, readNoise: c.f.readNoise, ...c.o };
      const cpu = measureStars(c.f.image, pos, o).toRecords();
      const gpu = (await measureStarsBatch(c.f.image, pos, o, { device: 'gpu', gpu: ctx! })).toRecords();
      const clean = c.f.stars.map((_, i) => i).filter((i) => isClean(c.f.stars[i]!, o.fwhm!));
      expectGpuMatchesCpu(cpu, gpu, clean, {
        positionTolerance: (a, axis) => positionTolerance(axis === 'x' ? a.xErr : a.yErr),
        minCompared: 0.9,
        // The annulus plane is this kernel's own; the map is the background code's (its own GPU test).
        also: (a, b, i) => {
          if (c.o.background === 'annulus') expect(Math.abs(b.background - a.background), `star ${i} background`).toBeLessThanOrEqual(1e-3 * Math.abs(a.background) + 0.05);
        },
      });
    });
  }
});
