/**
 * The one place where a dropped file becomes spectra or a frame: the reader is chosen here from
 * the file's first bytes (and name), so a reader added to the library is wired in here only.
 */
import { listAthenaGroups, listHdf5Datasets, readAthena, readHdf5, readSpectrum, type Hdf5DatasetInfo } from '../../src/xafs/index.js';
import { readImage, type ImageFile } from '../../src/stars/index.js';

/** A file of spectra as loaded; spectra are extracted with the current column choice (spectraOf). */
export type XafsFile =
  | { kind: 'columns'; name: string; text: string; labels: string[]; header: Record<string, string> }
  | { kind: 'groups'; name: string; spectra: NamedSpectrum[] }
  | { kind: 'hdf5'; name: string; bytes: Uint8Array; datasets: Hdf5DatasetInfo[] };

export interface NamedSpectrum {
  name: string;
  energy: Float64Array;
  mu: Float64Array;
}

/** Energy and μ as chosen: a column number or label, and a label or expression (readSpectrum's language). */
export interface ColumnChoice {
  energy: string;
  mu: string;
}

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
const GZIP = [0x1f, 0x8b];

function startsWith(b: Uint8Array, sig: number[]): boolean {
  return sig.every((v, i) => b[i] === v);
}

/** Reads a dropped spectra file: HDF5/NeXus, Athena project (.prj, plain or gzip), or column text (ASCII, XDI, Epics). */
export async function readXafsFile(file: File): Promise<XafsFile> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const name = file.name;
  if (bytes.length === 0) throw new Error('the file is empty');
  if (startsWith(bytes, HDF5_SIGNATURE)) {
    const datasets = (await listHdf5Datasets(bytes, name)).filter((d) => d.shape.length >= 1);
    return { kind: 'hdf5', name, bytes, datasets };
  }
  const head = new TextDecoder().decode(bytes.subarray(0, 64));
  if (startsWith(bytes, GZIP) || /\.prj$/i.test(name) || head.startsWith('# Athena project')) {
    const groups = listAthenaGroups(bytes, name);
    const project = readAthena(bytes, { fileName: name });
    return {
      kind: 'groups',
      name,
      spectra: project.groups.map((g, i) => ({ name: `${name}: ${groups[i]?.label ?? g.label}`, energy: g.energy, mu: g.mu })),
    };
  }
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  // Read once with the defaults: a file that is not a column file fails here, with the reader's message.
  const s = readSpectrum(text, { fileName: name });
  return { kind: 'columns', name, text, labels: s.labels, header: s.header };
}

/** μ as the usual column names and intensity expressions give it, best first (none when the labels say nothing). */
function usualMu(labels: readonly string[]): string[] {
  const find = (l: string) => labels.find((x) => x.toLowerCase() === l);
  const out: string[] = [];
  for (const m of ['mu', 'xmu', 'mutrans', 'mu_trans', 'mufluor', 'mu_fluor', 'normtrans']) {
    const hit = find(m);
    if (hit !== undefined) out.push(hit);
  }
  const i0 = find('i0');
  if (i0 !== undefined) {
    for (const t of ['it', 'i1']) if (find(t) !== undefined) out.push(`ln(${i0}/${find(t)})`);
    for (const f of ['if', 'ifluor']) if (find(f) !== undefined) out.push(`${find(f)}/${i0}`);
  }
  return out;
}

/** Column choices offered for a file's labels: the usual μ expressions, then every label. */
export function muPresets(labels: readonly string[]): string[] {
  const out = usualMu(labels);
  for (const l of labels) if (!out.includes(l)) out.push(l);
  return out;
}

/** The default choice for a column file: energy in column 1, μ the first usual name or expression, else column 2. */
export function defaultChoice(labels: readonly string[]): ColumnChoice {
  return { energy: labels[0] ?? '1', mu: usualMu(labels.slice(1))[0] ?? labels[1] ?? '2' };
}

/** Names usable in an HDF5 μ expression: each dataset's last path component, made an identifier. */
export function hdf5Signals(datasets: readonly Hdf5DatasetInfo[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of datasets) {
    const base = (d.path.split('/').pop() ?? d.path).replace(/[^A-Za-z0-9_]/g, '_').replace(/^(\d)/, '_$1');
    if (!(base in out)) out[base] = d.path;
  }
  return out;
}

/** The spectra of a file under the column choice (which applies to its kind of file). */
export async function spectraOf(f: XafsFile, choice: ColumnChoice): Promise<NamedSpectrum[]> {
  if (f.kind === 'groups') return f.spectra;
  if (f.kind === 'columns') {
    // A label is passed as its column number: labels such as 'xmu(trans)' are no expression.
    const num = (v: string): number | string => {
      const at = f.labels.indexOf(v.trim());
      return at >= 0 ? at + 1 : /^\d+$/.test(v.trim()) ? Number(v) : v.trim();
    };
    const s = readSpectrum(f.text, { energy: num(choice.energy), mu: num(choice.mu), fileName: f.name });
    return [{ name: f.name, energy: s.energy, mu: s.mu }];
  }
  const signals = hdf5Signals(f.datasets);
  const energy = signals[choice.energy] ?? choice.energy;
  const mu = signals[choice.mu] ?? choice.mu;
  const r = await readHdf5(f.bytes, { energy, mu, signals, fileName: f.name });
  const ne = r.energy.length;
  return Array.from({ length: r.count }, (_, i) => ({ name: r.count === 1 ? f.name : `${f.name}[${i}]`, energy: r.energy, mu: r.mu.subarray(i * ne, (i + 1) * ne) }));
}

/** Reads a frame: FITS, gzip FITS or TIFF (readImage chooses by the first bytes). */
export async function readFrameFile(file: File): Promise<ImageFile> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (bytes.length === 0) throw new Error('the file is empty');
  return readImage(bytes, file.name);
}
