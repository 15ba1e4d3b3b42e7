/** Loads the synthetic star fields of test/fixtures/stars and selects the stars the issue calls clean. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { readF32, stampRadius, type Image, type StarMeasurement } from '../../src/stars/index.js';

export const fixtureDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'stars');

export interface TruthStar {
  id: number;
  x: number;
  y: number;
  x_init: number;
  y_init: number;
  flux: number;
  fwhm: number;
  fwhm_major: number;
  fwhm_minor: number;
  axis_ratio: number;
  theta: number;
  eccentricity: number;
  edge_dist: number;
  nn_dist: number;
  saturated: boolean;
  snr_expected: number;
  crlb_x: number | null;
  crlb_y: number | null;
  beta?: number;
}

export interface Field {
  image: Image;
  stars: TruthStar[];
  gain: number;
  readNoise: number;
  saturation: number | null;
}

export function loadField(name: string): Field {
  const meta = JSON.parse(readFileSync(join(fixtureDir, `${name}.json`), 'utf8')) as {
    width: number;
    height: number;
    noise: { gain_e_per_adu: number; read_noise_e: number; saturation_adu: number | null };
    stars: TruthStar[];
  };
  const image = readF32(new Uint8Array(readFileSync(join(fixtureDir, `${name}.f32`))), meta);
  return { image, stars: meta.stars, gain: meta.noise.gain_e_per_adu, readNoise: meta.noise.read_noise_e, saturation: meta.noise.saturation_adu };
}

/** Unsaturated, ≥ 10 px from a neighbour, stamp fully inside the image. */
export function isClean(s: TruthStar, fwhm: number): boolean {
  return !s.saturated && s.nn_dist >= 10 && s.edge_dist >= stampRadius(fwhm) + 1;
}

export function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? (s[h] as number) : 0.5 * ((s[h - 1] as number) + (s[h] as number));
}

/** sqrt(mean(dx² + dy²)). */
export function rms2d(dx: number[], dy: number[]): number {
  let s = 0;
  for (let i = 0; i < dx.length; i++) s += (dx[i] as number) ** 2 + (dy[i] as number) ** 2;
  return Math.sqrt(s / dx.length);
}

/** A star whose measurement both paths can compare: status ok, and a converged fit unless moments. */
export function converged(m: StarMeasurement): boolean {
  return m.status === 'ok' && (m.method === 'moments' || m.fitReason === 'converged');
}

/**
 * GPU = CPU on the `clean` stars: converged fractions within 1 percentage point; where both
 * converged, x and y within `positionTolerance(cpu star)` px and FWHM within 0.5 %, plus `also`;
 * at least `minCompared` of the clean stars compared.
 */
export function expectGpuMatchesCpu(
  cpu: StarMeasurement[],
  gpu: StarMeasurement[],
  clean: number[],
  o: { positionTolerance: (a: StarMeasurement, axis: 'x' | 'y') => number; minCompared: number; also?: (a: StarMeasurement, b: StarMeasurement, i: number) => void },
): void {
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
    expect(Math.abs(b.x - a.x), `star ${i} x`).toBeLessThanOrEqual(o.positionTolerance(a, 'x'));
    expect(Math.abs(b.y - a.y), `star ${i} y`).toBeLessThanOrEqual(o.positionTolerance(a, 'y'));
    expect(Math.abs(b.fwhm / a.fwhm - 1), `star ${i} fwhm`).toBeLessThanOrEqual(0.005);
    o.also?.(a, b, i);
  }
  expect(compared).toBeGreaterThanOrEqual(o.minCompared * clean.length);
}
