// Every chart of the app is a Vega-Lite spec rendered by vega-embed: responsive width, titled axes with units.
import embed, { type Result, type VisualizationSpec } from 'vega-embed';

const views = new WeakMap<HTMLElement, Result>();

/** Renders `spec` into `el` (replacing its previous chart) at the container's width. */
export async function plot(el: HTMLElement, spec: Record<string, unknown>, renderer: 'svg' | 'canvas' = 'svg'): Promise<void> {
  views.get(el)?.finalize();
  const full = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 'container',
    autosize: { type: 'fit-x', contains: 'padding' },
    ...spec,
  } as VisualizationSpec;
  views.set(el, await embed(el, full, { actions: false, renderer }));
}

interface Axis {
  field: string;
  title: string;
  zero?: boolean;
}

/** Lines of y against x; with `series`, one coloured line per value of that field. */
export function lineSpec(values: object[], x: Axis, y: Axis, title: string, series?: { field: string; title: string }, height = 220): Record<string, unknown> {
  return {
    title,
    height,
    data: { values },
    mark: { type: 'line', strokeWidth: 1.5 },
    encoding: {
      x: { field: x.field, type: 'quantitative', title: x.title, scale: { zero: x.zero ?? false } },
      y: { field: y.field, type: 'quantitative', title: y.title, scale: { zero: y.zero ?? false } },
      ...(series ? { color: { field: series.field, type: 'nominal', title: series.title } } : {}),
    },
  };
}

/**
 * A heat map of `value` over cells centred on (x, y) with the given cell sizes, on numeric axes
 * (so ticks are values, not one label per cell).
 */
export function heatSpec(
  values: object[],
  x: Axis & { step: number },
  y: Axis & { step: number },
  value: { field: string; title: string; scheme?: string; domainMid?: number },
  title: string,
  height = 220,
): Record<string, unknown> {
  return {
    title,
    height,
    data: { values },
    transform: [
      { calculate: `datum.${x.field} - ${x.step / 2}`, as: 'x0' },
      { calculate: `datum.${x.field} + ${x.step / 2}`, as: 'x1' },
      { calculate: `datum.${y.field} - ${y.step / 2}`, as: 'y0' },
      { calculate: `datum.${y.field} + ${y.step / 2}`, as: 'y1' },
    ],
    mark: { type: 'rect' },
    encoding: {
      x: { field: 'x0', type: 'quantitative', title: x.title, scale: { zero: false, nice: false }, axis: { tickMinStep: x.step } },
      x2: { field: 'x1' },
      y: { field: 'y0', type: 'quantitative', title: y.title, scale: { zero: false, nice: false }, axis: { tickMinStep: y.step } },
      y2: { field: 'y1' },
      color: {
        field: value.field,
        type: 'quantitative',
        title: value.title,
        legend: { format: '.4~s' },
        scale: { scheme: value.scheme ?? 'viridis', ...(value.domainMid === undefined ? {} : { domainMid: value.domainMid }) },
      },
    },
  };
}

/** A histogram of `field`. */
export function histogramSpec(values: object[], field: string, title: string, axisTitle: string): Record<string, unknown> {
  return {
    title,
    height: 200,
    data: { values },
    mark: 'bar',
    encoding: {
      x: { field, type: 'quantitative', bin: { maxbins: 30 }, title: axisTitle },
      y: { aggregate: 'count', type: 'quantitative', title: 'stars' },
    },
  };
}

/** Points at their frame position coloured by `field` (y up, as the frame is shown). */
export function frameMapSpec(values: object[], width: number, height: number, field: string, title: string, legend: string): Record<string, unknown> {
  return {
    title,
    height: 240,
    data: { values },
    mark: { type: 'circle', size: 40, opacity: 0.9 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: 'x (px)', scale: { domain: [0, width] } },
      y: { field: 'y', type: 'quantitative', title: 'y (px)', scale: { domain: [0, height] } },
      color: { field, type: 'quantitative', title: legend, scale: { scheme: 'plasma' } },
      tooltip: [{ field: 'id', title: 'star' }, { field, title: legend, format: '.3f' }],
    },
  };
}
