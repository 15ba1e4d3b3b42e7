/** Public types and constants of the star measurement. */

export type MeasureMethod = 'moments' | 'gaussian' | 'gaussianRotated' | 'moffat';

export interface MeasureOptions {
  /** Position and shape estimator (default 'gaussian'). */
  method?: MeasureMethod;
  /**
   * Expected FWHM in px (default 3), FWHM_MIN … FWHM_MAX (0.5 … 8.571): sets the stamp radius
   * ceil(1.75·fwhm) ∈ [4, 15] and the moment window.
   */
  fwhm?: number;
  /** e⁻/ADU. With it, pixel weights and SNR include the source's Poisson noise. */
  gain?: number;
  /** Read noise in e⁻: a floor (readNoise/gain)² on the measured sky variance in ADU². */
  readNoise?: number;
  /** Pixels at or above this level (ADU) are left out of the fit and flag the star. */
  saturation?: number;
  /** Local sky: from the tiled map at the star (default) or a 3σ-clipped annulus R…1.5R. */
  background?: 'map' | 'annulus';
  /** Moffat β held fixed at this value; omitted, β is fitted. */
  beta?: number;
  /** Arithmetic of the PSF fit (default 'f64'); 'f32' rounds every stored quantity to float32. */
  precision?: 'f64' | 'f32';
}

export type StarStatus = 'ok' | 'fallback' | 'failed';

/**
 * Range of the expected FWHM (px) that measureStars, measureStarsBatch and detectStars accept.
 * Below 0.5 px a star is one pixel: the moment window (σ ≥ 0.5 px) and the DAOFIND kernel
 * (FWHM ≥ 0.5) no longer follow the option. At 15/1.75 the stamp radius ceil(1.75·fwhm) reaches
 * its cap of 15 px (31×31 stamps, the largest the GPU kernels hold in workgroup memory); beyond
 * it the stamp would cut the star's wings while the option still grew the DAOFIND kernel
 * (radius floor(1.5σ): 5 px here, a 21×21 metric cut-out) and the detection kernel without bound.
 */
export const FWHM_MIN = 0.5;
export const FWHM_MAX = 15 / 1.75;

/** Bits of `StarMeasurement.flags`. */
export const FLAG_EDGE = 1;
export const FLAG_SATURATED = 2;
export const FLAG_NAN_PIXELS = 4;
export const FLAG_FIT_FAILED = 8;
export const FLAG_MOMENTS_NOT_CONVERGED = 16;
export const FLAG_INVALID_POSITION = 32;
export const FLAG_OUTSIDE = 64;
export const FLAG_NO_SIGNAL = 128;
export const FLAG_ANNULUS_FALLBACK = 256;
export const FLAG_NO_BACKGROUND = 512;
/** Set with FLAG_NO_SIGNAL when the stamp holds no usable pixel at all. */
export const FLAG_NO_PIXELS = 1024;
/** The star's FWHM or flux could not be measured (no source with a width in the stamp): failed. */
export const FLAG_NO_SHAPE = 2048;
/** The measured centre lies outside the image (beyond −0.5 … size − 0.5): failed. */
export const FLAG_CENTRE_OUTSIDE = 4096;

const FLAG_NAMES: readonly [number, string][] = [
  [FLAG_EDGE, 'edge'],
  [FLAG_SATURATED, 'saturated'],
  [FLAG_NAN_PIXELS, 'nanPixels'],
  [FLAG_FIT_FAILED, 'fitFailed'],
  [FLAG_MOMENTS_NOT_CONVERGED, 'momentsNotConverged'],
  [FLAG_INVALID_POSITION, 'invalidPosition'],
  [FLAG_OUTSIDE, 'outside'],
  [FLAG_NO_SIGNAL, 'noSignal'],
  [FLAG_ANNULUS_FALLBACK, 'annulusFallback'],
  [FLAG_NO_BACKGROUND, 'noBackground'],
  [FLAG_NO_PIXELS, 'noPixels'],
  [FLAG_NO_SHAPE, 'noShape'],
  [FLAG_CENTRE_OUTSIDE, 'centreOutside'],
];

/** Names of the bits set in `flags`, e.g. ['edge', 'saturated']. */
export function flagNames(flags: number): string[] {
  return FLAG_NAMES.filter(([bit]) => (flags & bit) !== 0).map(([, name]) => name);
}

/**
 * One star. Positions are zero-based with pixel centres at integers. Fields that could not be
 * measured are NaN; `status` and `message` say why.
 */
export interface StarMeasurement {
  /** Index of the input position. */
  id: number;
  xInput: number;
  yInput: number;
  x: number;
  y: number;
  /** 1σ uncertainties of x and y from the fit covariance (NaN without a converged fit). */
  xErr: number;
  yErr: number;
  /** Total flux (fit) or the background-subtracted sum within radius R (moments), ADU. */
  flux: number;
  /** Geometric-mean FWHM, px: from the fit when it converged, else from windowed moments. */
  fwhm: number;
  /** sqrt(1 − (minor/major)²). */
  eccentricity: number;
  /** 1 − minor/major (photutils' ellipticity). */
  ellipticity: number;
  /** σ along the major and minor axes, px (photutils' semimajor_sigma, semiminor_sigma): FWHM and eccentricity as two widths. */
  semimajorSigma: number;
  semiminorSigma: number;
  /** Major-axis angle, radians counter-clockwise from +x, in (−π/2, π/2]. */
  theta: number;
  /** Moffat β (NaN for other methods). */
  beta: number;
  /** Local sky level and sky σ used for the star, ADU. */
  background: number;
  backgroundNoise: number;
  /** CCD equation over an aperture of radius 1.5·FWHM. */
  snr: number;
  /** Highest background-subtracted pixel of the 3×3 around the star. */
  peak: number;
  /** DAOFIND definitions (photutils DAOStarFinder names). */
  sharpness: number;
  roundness1: number;
  roundness2: number;
  /** The centroid design's own shape numbers, not comparable with DAOFIND's: peak / 3×3 core sum. */
  peakCoreRatio: number;
  /** (Hx − Hy)/(Hx + Hy) from the maxima of the x and y marginal sums. */
  marginalRoundness: number;
  /** hypot of the left/right and top/bottom marginal-half asymmetries; tracks the sub-pixel offset. */
  marginalAsymmetry: number;
  /** −Laplacian at the centre pixel over the sky σ (high for cosmic rays and hot pixels). */
  laplacianSnr: number;
  /** Reduced χ² of the fit (NaN for moments). */
  chi2Reduced: number;
  iterations: number;
  /** What produced position and shape: the requested fit, or 'moments'. */
  method: MeasureMethod;
  /** Why the fit stopped ('converged', 'maxIterations', …), '' when no fit was run. */
  fitReason: string;
  status: StarStatus;
  flags: number;
  /** Human-readable reason for a non-ok status or for flags, '' otherwise. */
  message: string;
}
