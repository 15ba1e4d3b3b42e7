/**
 * The DAOFIND kernel of photutils' DAOStarFinder, built once per expected FWHM: the detection's
 * candidate shapes (detectShape.ts) and every measured star's sharpness and roundness
 * (measure.ts) use the same numbers.
 */

/** A Gaussian of σ = s px truncated, lowered to zero sum and normalised (photutils' definitions). */
export interface DaofindKernel {
  /** Kernel radius kr = max(2, floor(1.5σ)); the kernel is (2kr + 1)², row-major. */
  kr: number;
  /** The Gaussian itself on the full square, for the marginal fits. */
  gauss: Float64Array;
  /** 1 on photutils' footprint: within 1.5σ (r²/2σ² ≤ 1.125), and at least radius 2. */
  mask: Uint8Array;
  /**
   * The Gaussian lowered to zero sum on the mask and scaled to unit response to itself, 0 off
   * the mask: its convolution with the data estimates the amplitude of a Gaussian of this σ.
   */
  kernel: Float64Array;
  /** roundness2's kernel side: the Gaussian's marginal with triangular weights (one serves both axes, the Gaussian being symmetric). */
  marginal: Float64Array;
  /** Fixed sums of roundness2's weighted linear fit of the data's marginal on `marginal`: Σw, Σw·k, Σw·k² − (Σw·k)²/Σw. */
  wSum: number;
  kSum: number;
  den: number;
}

export function daofindKernel(s: number): DaofindKernel {
  const kr = Math.max(2, Math.floor(1.5 * s));
  const ks = 2 * kr + 1;
  const gauss = new Float64Array(ks * ks);
  const mask = new Uint8Array(ks * ks);
  const kernel = new Float64Array(ks * ks);
  let sum = 0;
  let sum2 = 0;
  let npix = 0;
  for (let j = 0; j < ks; j++) {
    for (let i = 0; i < ks; i++) {
      const dx = i - kr;
      const dy = j - kr;
      const e = (dx * dx + dy * dy) / (2 * s * s);
      const g = Math.exp(-e);
      gauss[j * ks + i] = g;
      if (e <= 1.125 || dx * dx + dy * dy <= 4) {
        mask[j * ks + i] = 1;
        sum += g;
        sum2 += g * g;
        npix++;
      }
    }
  }
  const denom = sum2 - (sum * sum) / npix;
  for (let k = 0; k < ks * ks; k++) kernel[k] = mask[k] ? ((gauss[k] as number) - sum / npix) / denom : 0;
  const marginal = new Float64Array(ks);
  let wSum = 0;
  let kSum = 0;
  let k2Sum = 0;
  for (let u = 0; u < ks; u++) {
    // Triangular weights: kr + 1 at the centre, 1 at the edge.
    const wu = kr + 1 - Math.abs(u - kr);
    let km = 0;
    for (let t = 0; t < ks; t++) km += (kr + 1 - Math.abs(t - kr)) * (gauss[t * ks + u] as number);
    marginal[u] = km;
    wSum += wu;
    kSum += wu * km;
    k2Sum += wu * km * km;
  }
  return { kr, gauss, mask, kernel, marginal, wSum, kSum, den: k2Sum - (kSum * kSum) / wSum };
}
