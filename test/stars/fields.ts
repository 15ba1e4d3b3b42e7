/** Loads the synthetic star fields of test/fixtures/stars and selects the stars the issue calls clean. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readF32, stampRadius, type Image } from '../../src/stars/index.js';

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
