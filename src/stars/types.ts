/** Public types and constants of the star measurement. */

export type MeasureMethod = 'moments' | 'gaussian' | 'gaussianRotated' | 'moffat';

/** Options of measureStars, measureStarsBatch and FrameMeasurer; every one has a default. */
export interface MeasureOptions {
  /** Position and shape estimator (default 'gaussian'). */
  method?: MeasureMethod;
  /**
   * Expected FWHM in px (default 3), FWHM_MIN … FWHM_MAX (0.5 … 8.571): sets the stamp radius
   * ceil(1.75·fwhm) ∈ [4, 15] and the moment window (σ of the expected star, widened below
   * FWHM ≈ 1.9 px so that the windowed centroid does not depend on the pixel phase: momentWindow).
   */
  fwhm?: number;
  /** e⁻/ADU. With it, pixel weights and SNR include the source's Poisson noise. */
  gain?: number;
  /** Read noise in e⁻: a floor (readNoise/gain)² on the measured sky variance in ADU². */
  readNoise?: number;
  /** Pixels at or above this level (ADU) are left out of the fit and flag the star. */
  saturation?: number;
  /**
   * Local sky of each stamp: the background map at every stamp pixel (default), or a plane
   * B + Bx·u + By·v fitted in the annulus R…1.5R by 3σ-clipped least squares (localSky.ts). Either
   * way a sky gradient is subtracted per pixel, not left in the stamp as a constant.
   */
  background?: 'map' | 'annulus';
  /**
   * The local sky plane in the PSF fit: 'fixed' subtracts it and fits a constant on top; 'fit'
   * fits its slope as well (B + Bx·u + By·v with the PSF, starting from the plane). Unused by
   * moments. Default 'fit' for the Gaussian fits, 'fixed' for Moffat (defaultSkySlope).
   */
  skySlope?: 'fixed' | 'fit';
  /** Moffat β held fixed at this value; omitted, β is fitted. */
  beta?: number;
  /** Arithmetic of the PSF fit (default 'f64'); 'f32' rounds every stored quantity to float32. */
  precision?: 'f64' | 'f32';
}

/**
 * Default of MeasureOptions.skySlope, from the position errors on the synthetic skies of
 * test/stars/skies.test.ts (rms over the Cramér–Rao bound, 363 stars): fitting the slope takes
 * the Gaussian from 1.046 to 1.022 on a sloped sky and from 1.117 to 1.077 on the nebula field,
 * the rotated Gaussian from 1.128 to 1.064 on the slope; the Moffat (β free) goes from 1.067 to
 * 1.114 on the slope, its wings trading off against the tilt, so it keeps the plane fixed.
 */
export function defaultSkySlope(method: MeasureMethod): 'fixed' | 'fit' {
  return method === 'moffat' ? 'fixed' : 'fit';
}

/**
 * Outcome of one star: 'ok', measured as asked; 'fallback', the PSF fit failed or was not believed
 * (FLAG_FIT_FAILED) and position and shape come from the windowed moments, or the measured centre
 * was not believed (FLAG_CENTRE_DRIFT, FLAG_STRUCTURED_SKY) and x, y are the start position; 'failed', no position
 * (an invalid or off-image input, no sky, no signal, no shape, a centre off the image, or an
 * artefact). `flags` says which.
 */
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
/** Largest expected FWHM, 15/1.75 ≈ 8.571 px: the stamp radius ceil(1.75·fwhm) reaches its cap of 15 px (see FWHM_MIN). */
export const FWHM_MAX = 15 / 1.75;

/*
 * Bits of `StarMeasurement.flags`; flagNames gives each its name, the constant's in camelCase
 * ('edge', 'nanPixels', …). The bits are ours: SExtractor's FLAGS and SEP's `flag` number
 * different conditions, and photutils' PSFPhotometry `flags` others again.
 */

/**
 * Part of the stamp lies off the image; measured without those pixels (SExtractor FLAGS value 8,
 * SEP OBJ_TRUNC: truncated at the image boundary).
 */
export const FLAG_EDGE = 1;
/**
 * A stamp pixel is at or above MeasureOptions.saturation; left out of the moments and the fit
 * (SExtractor FLAGS value 4).
 */
export const FLAG_SATURATED = 2;
/** A stamp pixel is NaN or ±∞; left out of the moments and the fit. */
export const FLAG_NAN_PIXELS = 4;
/**
 * The PSF fit did not converge (fitReason says why), or converged with its centre off the stamp
 * or the image or a FWHM beyond the stamp radius: status 'fallback', position and shape from the
 * windowed moments.
 */
export const FLAG_FIT_FAILED = 8;
/** The windowed centroid had not settled (a step ≥ 1e-4 px) after its 40 iterations; its last position is kept. */
export const FLAG_MOMENTS_NOT_CONVERGED = 16;
/** The input x or y is not a finite number (NaN, ±∞, or not a number at all): failed, nothing measured. */
export const FLAG_INVALID_POSITION = 32;
/** The input position lies outside the image (beyond −0.5 … size − 0.5): failed, nothing measured. */
export const FLAG_OUTSIDE = 64;
/**
 * No positive signal under the moment window, or the centroid left the stamp: failed. The input
 * position is kept for the metrics.
 */
export const FLAG_NO_SIGNAL = 128;
/**
 * MeasureOptions.background 'annulus' found no sky plane in the annulus (fewer than 10 finite
 * pixels there): the background map's sky was used instead.
 */
export const FLAG_ANNULUS_FALLBACK = 256;
/** Neither the annulus nor the background map gives a finite sky at the star: failed, nothing measured. */
export const FLAG_NO_BACKGROUND = 512;
/** Set with FLAG_NO_SIGNAL when the stamp holds no usable pixel at all. */
export const FLAG_NO_PIXELS = 1024;
/** The star's FWHM or flux could not be measured (no source with a width in the stamp): failed. */
export const FLAG_NO_SHAPE = 2048;
/** The measured centre lies outside the image (beyond −0.5 … size − 0.5): failed. */
export const FLAG_CENTRE_OUTSIDE = 4096;
/** Another source lies inside the star's stamp (frameChecks); status unchanged, no deblending. */
export const FLAG_CROWDED = 8192;
/** FWHM below half the frame's median: a hot pixel or cosmic ray (frameChecks); failed. */
export const FLAG_ARTEFACT = 16384;
/**
 * The measured centre moved further than max(1.5 px, the expected FWHM) from the start position
 * (frameChecks): on structured sky a faint star's fit and moments climb a nebula instead. Status
 * 'fallback', x and y are the start position.
 */
export const FLAG_CENTRE_DRIFT = 32768;
/**
 * An unsaturated source wider than 1.5 × the frame's median FWHM on a local sky whose scatter is
 * over twice the frame's median (frameChecks): its window or fit took in sky structure (a nebula)
 * and the centre with it. Status 'fallback', x and y are the start position.
 */
export const FLAG_STRUCTURED_SKY = 65536;

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
  [FLAG_CROWDED, 'crowded'],
  [FLAG_ARTEFACT, 'artefact'],
  [FLAG_CENTRE_DRIFT, 'centreDrift'],
  [FLAG_STRUCTURED_SKY, 'structuredSky'],
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
  /** The x asked for, zero-based px (photutils' x_init); NaN when it was not a number. */
  xInput: number;
  /** The y asked for, zero-based px (photutils' y_init); NaN when it was not a number. */
  yInput: number;
  /**
   * Measured x, zero-based px: the fitted centre, or the windowed centroid when no fit was run or
   * believed (photutils' x_fit / xcentroid; SExtractor's XWIN_IMAGE − 1 for the centroid).
   */
  x: number;
  /** Measured y, zero-based px, as x (photutils' y_fit / ycentroid; SExtractor's YWIN_IMAGE − 1). */
  y: number;
  /**
   * 1σ uncertainties of x and y from the fit covariance, px (photutils' x_err; NaN without a
   * converged fit). Absolute with a gain, else scaled by the reduced χ².
   */
  xErr: number;
  /** 1σ uncertainty of y, px, as xErr (photutils' y_err). */
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
  /** σ along the minor axis, px (photutils' semiminor_sigma); semimajorSigma·semiminorSigma = (FWHM/2.3548)². */
  semiminorSigma: number;
  /** Major-axis angle, radians counter-clockwise from +x, in (−π/2, π/2]. */
  theta: number;
  /** Moffat β (NaN for other methods). */
  beta: number;
  /**
   * Local sky level used for the star, ADU: at the stamp's centre pixel, from the background map
   * or the annulus plane (SExtractor's BACKGROUND, SEP's Background.back() at the star).
   */
  background: number;
  /**
   * Sky σ used for the star's weights and SNR, ADU, at least readNoise/gain (SEP's
   * Background.rms() at the star). NaN when no sky was found.
   */
  backgroundNoise: number;
  /** CCD equation over an aperture of radius 1.5·FWHM. */
  snr: number;
  /** Highest background-subtracted pixel of the 3×3 around the star. */
  peak: number;
  /**
   * DAOFIND sharpness (photutils DAOStarFinder's sharpness): (centre pixel − mean of the other
   * pixels of the kernel footprint) / the kernel-convolved peak.
   */
  sharpness: number;
  /** DAOFIND roundness from the four quadrants of the convolved image (photutils DAOStarFinder's roundness1, "SROUND"). */
  roundness1: number;
  /** DAOFIND roundness 2(hx − hy)/(hx + hy) from Gaussian fits to the x and y marginals (photutils' roundness2, "GROUND"). */
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
  /** Levenberg–Marquardt iterations of the fit (at most 100); 0 when no fit was run. */
  iterations: number;
  /** What produced position and shape: the requested fit, or 'moments'. */
  method: MeasureMethod;
  /** Why the fit stopped ('converged', 'maxIterations', …), '' when no fit was run. */
  fitReason: string;
  /** 'ok', 'fallback' (moments instead of the fit) or 'failed' (StarStatus). */
  status: StarStatus;
  /** FLAG_* bits, 0 when nothing was noted; flagNames lists them. */
  flags: number;
  /** Human-readable reason for a non-ok status or for flags, '' otherwise. */
  message: string;
}
