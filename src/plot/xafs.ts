/**
 * Vega-Lite specs of the XAFS plots Athena and Larch users look at: μ(E) with the background
 * and the pre-/post-edge lines, k^w·χ(k), and |χ(R)|.
 */
import type { TopLevelSpec } from 'vega-lite';

const WIDTH = 480;
const HEIGHT = 300;

/** Long-form rows {x, y, curve} of several curves on their own grids (non-finite points dropped). */
function curves(list: readonly { name: string; x: ArrayLike<number>; y: ArrayLike<number> }[]): { x: number; y: number; curve: string }[] {
  const rows: { x: number; y: number; curve: string }[] = [];
  for (const c of list) {
    const n = Math.min(c.x.length, c.y.length);
    for (let i = 0; i < n; i++) if (Number.isFinite(c.x[i]!) && Number.isFinite(c.y[i]!)) rows.push({ x: c.x[i]!, y: c.y[i]!, curve: c.name });
  }
  return rows;
}

function lines(title: string, xTitle: string, yTitle: string, rows: ReturnType<typeof curves>, order: string[]): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: WIDTH,
    height: HEIGHT,
    data: { values: rows },
    mark: { type: 'line', strokeWidth: 1.5 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: xTitle, scale: { zero: false } },
      y: { field: 'y', type: 'quantitative', title: yTitle, scale: { zero: false } },
      color: { field: 'curve', type: 'nominal', title: null, sort: order },
      strokeDash: order.length > 1 ? { field: 'curve', type: 'nominal', sort: order, legend: null } : { value: [1, 0] },
    },
  };
}

/** μ(E), bkg, pre_edge and post_edge against energy (eV). */
export function muPlot(name: string, energy: ArrayLike<number>, c: { mu: ArrayLike<number>; bkg: ArrayLike<number>; preEdge: ArrayLike<number>; postEdge: ArrayLike<number> }): TopLevelSpec {
  const order = ['mu', 'bkg', 'pre_edge', 'post_edge'];
  const rows = curves([
    { name: 'mu', x: energy, y: c.mu },
    { name: 'bkg', x: energy, y: c.bkg },
    { name: 'pre_edge', x: energy, y: c.preEdge },
    { name: 'post_edge', x: energy, y: c.postEdge },
  ]);
  return lines(`${name}: μ(E), background, pre-/post-edge lines`, 'Energy (eV)', 'μ(E)', rows, order);
}

/** k^w·χ(k) against k (Å⁻¹). */
export function chikPlot(name: string, k: ArrayLike<number>, chik: ArrayLike<number>, kweight: number): TopLevelSpec {
  return lines(`${name}: k^${kweight}·χ(k)`, 'k (Å⁻¹)', `k^${kweight}·χ(k) (Å^-${kweight})`, curves([{ name: `k^${kweight}·chi`, x: k, y: chik }]), [`k^${kweight}·chi`]);
}

/** |χ(R)| against R (Å). */
export function chirPlot(name: string, r: ArrayLike<number>, mag: ArrayLike<number>, kweight: number): TopLevelSpec {
  return lines(`${name}: |χ(R)|, k-weight ${kweight}`, 'R (Å)', `|χ(R)| (Å^-${kweight + 1})`, curves([{ name: 'chir_mag', x: r, y: mag }]), ['chir_mag']);
}
