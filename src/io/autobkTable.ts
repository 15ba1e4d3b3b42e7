/**
 * The AUTOBK batch file (`batchfit autobk-batch --out`, and the web app's "batch file"): one row
 * per spectrum with its scalars and its energy, bkg, χ(k) and |χ(R)| as lists, and the grids'
 * steps and the settings in the metadata. No Node built-ins: the CLI streams these rows to disk
 * chunk by chunk, the app encodes a finished run in memory, and both get the same schema.
 */
import type { AutobkBatchResults } from '../xafs/autobkBatchResults.js';
import type { AutobkBatchOptions, ChirSettings } from '../xafs/autobkBatchTypes.js';
import type { ListValues, TableChunk, TableColumn } from './arrowBatch.js';

/** The columns of the batch file, in order. */
export const AUTOBK_BATCH_COLUMNS: readonly TableColumn[] = [
  { name: 'name', kind: 'string', unit: '', description: 'file name, or series file:column label' },
  { name: 'index', kind: 'int32', unit: '', description: 'position in the batch (0-based)' },
  { name: 'status', kind: 'string', unit: '', description: 'converged, max-iterations or error' },
  { name: 'message', kind: 'string', unit: '', description: "the error, or the fit's warnings joined by '; '" },
  { name: 'e0', kind: 'float64', unit: 'eV', description: 'edge energy (Larch e0)' },
  { name: 'edge_step', kind: 'float64', unit: '', description: 'edge step in μ units (Larch edge_step)' },
  { name: 'nknots', kind: 'int32', unit: '', description: 'spline knots (Larch nspl)' },
  { name: 'chisqr', kind: 'float64', unit: '', description: 'χ² of the background fit (lmfit chisqr)' },
  { name: 'redchi', kind: 'float64', unit: '', description: 'reduced χ² (lmfit redchi)' },
  { name: 'energy', kind: 'list<float64>', unit: 'eV', description: 'cleaned energy grid of bkg' },
  { name: 'bkg', kind: 'list<float64>', unit: '', description: 'AUTOBK background μ0(E) on energy' },
  { name: 'chi', kind: 'list<float64>', unit: '', description: 'χ(k) on k = k_step·i' },
  { name: 'chir_mag', kind: 'list<float64>', unit: 'Å^-(w+1)', description: '|χ(R)| on r = r_step·i (xftf settings in the metadata)' },
];

/**
 * The batch file's metadata: k_step and r_step (π/(kstep·nfft)) with autobkBatch's defaults
 * (0.05 Å⁻¹, 2048), the χ(R) transform's settings ('xftf', JSON, in a fixed key order), the fit's
 * options ('autobk', JSON) and who wrote it. openTable / arrowFile add the units and descriptions.
 */
export function autobkTableMetadata(fit: AutobkBatchOptions, chir: ChirSettings, createdBy: string): Record<string, string> {
  const kstep = fit.kstep ?? 0.05;
  const nfft = fit.nfft ?? 2048;
  const xftf = { kmin: chir.kmin, kmax: chir.kmax, dk: chir.dk, window: chir.window, kweight: chir.kweight, rmax: chir.rmax };
  return {
    k_step: String(kstep),
    r_step: String(Math.PI / (kstep * nfft)),
    xftf: JSON.stringify(xftf),
    autobk: JSON.stringify(fit),
    created_by: createdBy,
  };
}

/** The rows of a list column: row i is the first n[i] values of plane row i (width w); compacted. */
function listOf(plane: Float64Array, width: number | Int32Array, n: Int32Array, valid: Uint8Array): ListValues {
  const count = n.length;
  const offsets = new Int32Array(count + 1);
  for (let i = 0; i < count; i++) offsets[i + 1] = offsets[i]! + (valid[i] ? n[i]! : 0);
  const values = new Float64Array(offsets[count]!);
  for (let i = 0; i < count; i++) {
    if (!valid[i]) continue;
    const start = typeof width === 'number' ? i * width : width[i]!;
    values.set(plane.subarray(start, start + n[i]!), offsets[i]!);
  }
  return { values, offsets };
}

/** The fit's own verdict on spectrum i (local index): its error message, or null when fitted. */
export function fitError(c: AutobkBatchResults, i: number): string | null {
  return c.statusOf(i) === 'error' ? (c.errors.get(c.start + i) ?? 'not fitted') : null;
}

/**
 * Results (a streamed chunk or a whole run) as table rows, everything copied (a chunk's planes
 * are reused after onChunk). `names` is by batch index; `problem(i)` (local index) is why
 * spectrum i counts as an error — null keeps the fit's status; the CLI adds its edge checks to
 * the fit's own errors. A row in error has null lists.
 */
export function autobkRows(c: AutobkBatchResults, names: readonly string[], problem: (i: number) => string | null = (i) => fitError(c, i)): TableChunk {
  const n = c.count;
  const valid = new Uint8Array(n);
  const status: string[] = new Array(n);
  const message: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const bad = problem(i);
    valid[i] = bad === null ? 1 : 0;
    status[i] = bad === null ? c.statusOf(i) : 'error';
    message[i] = bad ?? c.warningsOf(i).join('; ');
  }
  const cols = c.columns;
  const bkg = c.bkg;
  const energy = new Float64Array(bkg.length);
  for (let i = 0; i < n; i++) if (valid[i] && c.statusOf(i) !== 'error') energy.set(c.energyOf(i).subarray(0, cols.ne[i]!), cols.rowOffsets[i]!);
  const rowStart = cols.rowOffsets.subarray(0, n);
  const lists: Record<string, ListValues> = {
    energy: listOf(energy, rowStart, cols.ne, valid),
    bkg: listOf(bkg, rowStart, cols.ne, valid),
    chi: listOf(cols.chi, cols.kWidth, cols.nk, valid),
    chir_mag: listOf(cols.chirMag, cols.nr, new Int32Array(n).fill(cols.nr), valid),
  };
  return {
    count: n,
    valid,
    columns: {
      name: names.slice(c.start, c.start + n),
      index: Int32Array.from({ length: n }, (_, i) => c.start + i),
      status,
      message,
      e0: cols.e0.slice(),
      edge_step: cols.edgeStep.slice(),
      nknots: cols.nspl.slice(),
      chisqr: cols.chisqr.slice(),
      redchi: cols.redchi.slice(),
      ...lists,
    },
  };
}

/**
 * Rows for inputs that could not even be read (a file that does not parse): status error, the
 * reason as message, no numbers, null lists. Indexes continue after the batch's `first` rows, so
 * every input has a row in the file, as in the summary.
 */
export function unreadRows(unread: readonly { name: string; error: string }[], first: number): TableChunk {
  const n = unread.length;
  const none: ListValues = { values: new Float64Array(0), offsets: new Int32Array(n + 1) };
  return {
    count: n,
    valid: new Uint8Array(n),
    columns: {
      name: unread.map((u) => u.name),
      index: Int32Array.from({ length: n }, (_, i) => first + i),
      status: unread.map(() => 'error'),
      message: unread.map((u) => u.error),
      e0: new Float64Array(n).fill(NaN),
      edge_step: new Float64Array(n).fill(NaN),
      nknots: new Int32Array(n),
      chisqr: new Float64Array(n).fill(NaN),
      redchi: new Float64Array(n).fill(NaN),
      energy: none,
      bkg: none,
      chi: none,
      chir_mag: none,
    },
  };
}
