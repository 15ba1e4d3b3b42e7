/**
 * Vega-Lite specs of the star plots: a small multiple of stamps as heatmaps with the fitted
 * centres marked, and FWHM and ellipticity across the frame.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { Image } from '../stars/image.js';

/** One star to show: its catalogue id and measured centre (pixels, zero-based). */
export interface StampStar {
  id: number;
  x: number;
  y: number;
}

/**
 * Stamps of side 2·radius + 1 around each star's nearest pixel, as heatmaps (a rect per pixel,
 * from its edge at p − 0.5 to p + 0.5) with a cross at the fitted centre; one panel per star.
 */
export function stampsPlot(image: Image, stars: readonly StampStar[], radius: number): TopLevelSpec {
  const values: Record<string, number | string>[] = [];
  for (const s of stars) {
    const cx = Math.round(s.x);
    const cy = Math.round(s.y);
    const star = `star ${s.id}`;
    for (let py = cy - radius; py <= cy + radius; py++) {
      for (let px = cx - radius; px <= cx + radius; px++) {
        if (px < 0 || py < 0 || px >= image.width || py >= image.height) continue;
        const v = image.data[py * image.width + px]!;
        if (Number.isFinite(v)) values.push({ star, kind: 'pixel', x0: px - 0.5, x1: px + 0.5, y0: py - 0.5, y1: py + 0.5, value: v });
      }
    }
    values.push({ star, kind: 'centre', cx: s.x, cy: s.y });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Stamps with fitted centres (+)',
    data: { values },
    facet: { field: 'star', type: 'nominal', title: null, sort: stars.map((s) => `star ${s.id}`) },
    columns: 3,
    spec: {
      width: 140,
      height: 140,
      layer: [
        {
          transform: [{ filter: "datum.kind === 'pixel'" }],
          mark: 'rect',
          encoding: {
            x: { field: 'x0', type: 'quantitative', title: 'x (pixel)', scale: { zero: false, nice: false } },
            x2: { field: 'x1' },
            y: { field: 'y0', type: 'quantitative', title: 'y (pixel)', scale: { zero: false, nice: false } },
            y2: { field: 'y1' },
            color: { field: 'value', type: 'quantitative', title: 'ADU', scale: { scheme: 'viridis' } },
          },
        },
        {
          transform: [{ filter: "datum.kind === 'centre'" }],
          mark: { type: 'point', shape: 'cross', color: 'red', size: 80, filled: true },
          encoding: { x: { field: 'cx', type: 'quantitative' }, y: { field: 'cy', type: 'quantitative' } },
        },
      ],
    },
    resolve: { scale: { x: 'independent', y: 'independent', color: 'independent' } },
  };
}

/** FWHM and ellipticity of each measured star at its position on the frame (two panels). */
export function shapeMapPlot(width: number, height: number, stars: { x: ArrayLike<number>; y: ArrayLike<number>; fwhm: ArrayLike<number>; ellipticity: ArrayLike<number> }): TopLevelSpec {
  const values: { x: number; y: number; fwhm: number; ellipticity: number }[] = [];
  for (let i = 0; i < stars.x.length; i++) {
    const v = { x: stars.x[i]!, y: stars.y[i]!, fwhm: stars.fwhm[i]!, ellipticity: stars.ellipticity[i]! };
    if (Number.isFinite(v.x) && Number.isFinite(v.y) && Number.isFinite(v.fwhm) && Number.isFinite(v.ellipticity)) values.push(v);
  }
  const panel = (field: 'fwhm' | 'ellipticity', title: string) => ({
    title: `${title} across the frame`,
    width: 300,
    height: Math.max(100, Math.round((300 * height) / width)),
    mark: { type: 'circle' as const, size: 40, opacity: 0.9 },
    encoding: {
      x: { field: 'x', type: 'quantitative' as const, title: 'x (pixel)', scale: { domain: [-0.5, width - 0.5], nice: false } },
      y: { field: 'y', type: 'quantitative' as const, title: 'y (pixel)', scale: { domain: [-0.5, height - 0.5], nice: false } },
      color: { field, type: 'quantitative' as const, title, scale: { scheme: 'plasma' } },
    },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    data: { values },
    hconcat: [panel('fwhm', 'FWHM (pixel)'), panel('ellipticity', 'ellipticity')],
    resolve: { scale: { color: 'independent' } },
  };
}
