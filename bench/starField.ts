/**
 * The synthetic star frame of the star benchmarks: Gaussian stars (FWHM 3.5) on a jittered grid,
 * sky 1000 ADU, gain 1.5, read noise 5 e⁻. One generator so that stars.bench and
 * stars-batch.bench measure the same frame for the same size, count and seed.
 */
import { erf } from '../src/math/studentT.js';
import type { Image } from '../src/stars/index.js';
import { gaussian, mulberry32 } from '../test/util/random.js';

export const FWHM = 3.5;
export const GAIN = 1.5;
export const READ_NOISE = 5;
export const SKY = 1000;

/** Fraction of a unit Gaussian's flux (centre c, width σ) that falls in pixel k. */
function pixelGauss(c: number, sigma: number, k: number): number {
  const q = 1 / (Math.SQRT2 * sigma);
  return 0.5 * (erf((k + 0.5 - c) * q) - erf((k - 0.5 - c) * q));
}

/**
 * A frame of `size`² with `stars` stars, fluxes log-uniform in [2000, 200 000] ADU, and their true
 * centres. `shared` puts the pixels in a SharedArrayBuffer, as a caller measuring on worker
 * threads keeps them (otherwise every call copies them there).
 */
export function syntheticStarField(size: number, stars: number, seed: number, shared = false): { image: Image; truth: { x: number; y: number }[] } {
  const rnd = mulberry32(seed);
  const normal = gaussian(rnd);
  const data = shared ? new Float32Array(new SharedArrayBuffer(4 * size * size)) : new Float32Array(size * size);
  const sigmaSky = Math.sqrt(SKY / GAIN + (READ_NOISE / GAIN) ** 2);
  for (let i = 0; i < data.length; i++) data[i] = SKY + sigmaSky * normal();
  const truth: { x: number; y: number }[] = [];
  const grid = Math.ceil(Math.sqrt(stars));
  const step = size / grid;
  const s = FWHM / 2.3548200450309493;
  for (let k = 0; k < stars; k++) {
    const x = ((k % grid) + 0.5) * step + (rnd() - 0.5) * 0.3 * step;
    const y = (Math.floor(k / grid) + 0.5) * step + (rnd() - 0.5) * 0.3 * step;
    const flux = 2000 * 100 ** rnd();
    truth.push({ x, y });
    const ix = Math.round(x);
    const iy = Math.round(y);
    for (let j = iy - 10; j <= iy + 10; j++) {
      const gy = pixelGauss(y, s, j);
      for (let i = ix - 10; i <= ix + 10; i++) {
        const m = flux * gy * pixelGauss(x, s, i);
        // Poisson noise of the star by its normal approximation.
        data[j * size + i] = (data[j * size + i] as number) + m + Math.sqrt(m / GAIN) * normal();
      }
    }
  }
  return { image: { data, width: size, height: size }, truth };
}
