/**
 * Vega-Lite specifications rendered to SVG in Node: vega-lite compiles the spec to Vega, a
 * headless Vega View (renderer 'none', no DOM) lays it out and writes the SVG text.
 */
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** The SVG text of a Vega-Lite spec. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
