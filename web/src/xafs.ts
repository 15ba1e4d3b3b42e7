// The XAFS panel: spectra files in, autobkBatch (WebGPU or CPU) with χ(R), plots, CSV and the CLI's batch file out.
import { arrowFile } from '../../src/io/arrowBatch.js';
import { AUTOBK_BATCH_COLUMNS, autobkRows, autobkTableMetadata, fitError } from '../../src/io/autobkTable.js';
import { edgeStepProblem, fallingMuProblem } from '../../src/xafs/edgeChecks.js';
import { columnsCsv } from '../../src/io/csv.js';
import { autobkBatch, type AutobkBatchOptions, type AutobkBatchResult, type AutobkBatchResults, type AutobkBatchSuccess, type BatchSpectrum, type ChirSettings } from '../../src/xafs/index.js';
import { defaultChoice, hdf5Signals, muPresets, readXafsFile, spectraOf, type ColumnChoice, type NamedSpectrum, type XafsFile } from './files.js';
import { heatSpec, lineSpec, plot } from './plots.js';
import { byId, download, fileDrop, fmt, formNumbers, showError } from './ui.js';
import type { GpuHandle } from './main.js';

interface Run {
  /** The spectra as read (μ is plotted from them), one per record. */
  spectra: NamedSpectrum[];
  names: string[];
  records: AutobkBatchResult[];
  /** The whole run's planes, for the batch file. */
  result: AutobkBatchResults;
  /** The fit's options and the χ(R) settings as run, for the batch file's metadata. */
  options: AutobkBatchOptions;
  chir: ChirSettings;
  /** Per spectrum, why its fit is not a χ although it converged (no rising edge), or null. */
  problems: (string | null)[];
  /** The FT k-weight the χ(k) plots and downloads use. */
  kweight: number;
}

const files: XafsFile[] = [];
/** One column choice per set of column labels: files with the same columns (a series) share it. */
const choices = new Map<string, ColumnChoice>();
let run: Run | null = null;
let selected = 0;

const errors = () => byId<HTMLUListElement>('xafs-errors');
const choosable = () => files.filter((f): f is Exclude<XafsFile, { kind: 'groups' }> => f.kind !== 'groups');

function previewFile(): Exclude<XafsFile, { kind: 'groups' }> | undefined {
  const sel = byId<HTMLSelectElement>('xafs-preview-file');
  return choosable()[Number(sel.value) || 0];
}

/** The names offered for energy and μ: column labels, or the HDF5 datasets' names. */
function namesOf(f: Exclude<XafsFile, { kind: 'groups' }>): { energy: string[]; mu: string[] } {
  if (f.kind === 'columns') return { energy: f.labels, mu: muPresets(f.labels) };
  const signals = hdf5Signals(f.datasets);
  const names = Object.keys(signals);
  const oneD = names.filter((n) => f.datasets.find((d) => d.path === signals[n])?.shape.length === 1);
  return { energy: [...oneD.filter((n) => /ener/i.test(n)), ...oneD.filter((n) => !/ener/i.test(n))], mu: names };
}

function columnsKey(f: Exclude<XafsFile, { kind: 'groups' }>): string {
  return f.kind === 'columns' ? `columns\u0000${f.labels.join('\u0000')}` : `hdf5\u0000${f.datasets.map((d) => d.path).join('\u0000')}`;
}

function choiceFor(f: Exclude<XafsFile, { kind: 'groups' }>): ColumnChoice {
  const c = choices.get(columnsKey(f));
  if (c !== undefined) return c;
  const names = namesOf(f);
  const made = f.kind === 'columns' ? defaultChoice(f.labels) : { energy: names.energy[0] ?? '', mu: names.mu.find((n) => /^mu/i.test(n)) ?? names.mu[1] ?? '' };
  choices.set(columnsKey(f), made);
  return made;
}

/** Fills the column controls for the preview file and draws its μ(E). */
function showColumns(): void {
  const box = byId('xafs-columns');
  const list = choosable();
  box.hidden = list.length === 0;
  if (list.length === 0) return;
  const sel = byId<HTMLSelectElement>('xafs-preview-file');
  const keep = sel.value;
  sel.replaceChildren(...list.map((f, i) => new Option(f.name, String(i))));
  sel.value = keep !== '' && Number(keep) < list.length ? keep : '0';
  const f = previewFile()!;
  const names = namesOf(f);
  const choice = choiceFor(f);
  const energy = byId<HTMLSelectElement>('xafs-energy');
  energy.replaceChildren(...names.energy.map((n) => new Option(n, n)));
  energy.value = choice.energy;
  byId<HTMLDataListElement>('xafs-mu-presets').replaceChildren(...names.mu.map((n) => new Option(n, n)));
  byId<HTMLInputElement>('xafs-mu').value = choice.mu;
  void preview();
}

let previewSeq = 0;
/** μ(E) of the preview file under the current choice, or the reader's message for it. */
async function preview(): Promise<void> {
  const f = previewFile();
  if (f === undefined) return;
  const seq = ++previewSeq;
  const err = byId('xafs-mu-error');
  try {
    const s = (await spectraOf(f, choiceFor(f)))[0]!;
    if (seq !== previewSeq) return;
    err.hidden = true;
    const values = Array.from(s.energy, (e, i) => ({ energy: e, mu: s.mu[i] })).filter((v) => Number.isFinite(v.mu));
    await plot(byId('xafs-preview'), lineSpec(values, { field: 'energy', title: 'Energy (eV)' }, { field: 'mu', title: `μ(E) = ${choiceFor(f).mu}` }, `preview: ${s.name}`, undefined, 120));
  } catch (e) {
    if (seq !== previewSeq) return;
    err.hidden = false;
    err.textContent = `${f.name}: ${e instanceof Error ? e.message : String(e)}`;
  }
}

async function addFiles(list: File[]): Promise<void> {
  for (const file of list) {
    try {
      files.push(await readXafsFile(file));
    } catch (e) {
      showError(errors(), file.name, e);
    }
  }
  byId<HTMLButtonElement>('xafs-run').disabled = files.length === 0;
  byId('xafs-status').textContent = `${files.length} file${files.length === 1 ? '' : 's'} loaded`;
  showColumns();
}

/** AUTOBK options from the form, by Larch's names. */
function autobkOptions(): { options: AutobkBatchOptions; e0: number | undefined } {
  const v = formNumbers(byId('xafs-autobk'));
  const options: AutobkBatchOptions = {};
  const copy = { rbkg: 'rbkg', nknots: 'nknots', kmin: 'kmin', kmax: 'kmax', kweight: 'kweight', dk: 'dk', win: 'win', nfft: 'nfft', kstep: 'kstep', nclamp: 'nclamp', clamp_lo: 'clampLo', clamp_hi: 'clampHi' } as const;
  for (const [larch, ours] of Object.entries(copy)) if (v[larch] !== undefined) (options as Record<string, unknown>)[ours] = v[larch];
  return { options, e0: typeof v.e0 === 'number' ? v.e0 : undefined };
}

function ftSettings(): ChirSettings {
  const v = formNumbers(byId('xafs-ft'));
  return {
    ...(v.kmin === undefined ? {} : { kmin: v.kmin as number }),
    ...(v.kmax === undefined ? {} : { kmax: v.kmax as number }),
    ...(v.dk === undefined ? {} : { dk: v.dk as number }),
    ...(v.kweight === undefined ? {} : { kweight: v.kweight as number }),
    ...(v.window === undefined ? {} : { window: v.window as string }),
    ...(v.rmax_out === undefined ? {} : { rmax: v.rmax_out as number }),
  };
}

async function runBatch(gpu: GpuHandle): Promise<void> {
  const button = byId<HTMLButtonElement>('xafs-run');
  const status = byId('xafs-status');
  const progress = byId<HTMLProgressElement>('xafs-progress');
  byId('xafs-results').hidden = true;
  errors().replaceChildren();
  const spectra: NamedSpectrum[] = [];
  for (const f of files) {
    try {
      spectra.push(...(await spectraOf(f, f.kind === 'groups' ? { energy: '', mu: '' } : choiceFor(f))));
    } catch (e) {
      showError(errors(), f.name, e);
    }
  }
  if (spectra.length === 0) {
    status.textContent = 'no spectra to fit';
    return;
  }
  const { options, e0 } = autobkOptions();
  const chir = ftSettings();
  const device = byId<HTMLSelectElement>('xafs-device').value as 'auto' | 'gpu' | 'cpu';
  const notices: string[] = [];
  button.disabled = true;
  progress.hidden = false;
  progress.value = 0;
  status.textContent = `fitting ${spectra.length} spectra …`;
  const t0 = performance.now();
  try {
    const input: BatchSpectrum[] = spectra.map((s) => ({ energy: s.energy, mu: s.mu, ...(e0 === undefined ? {} : { e0 }) }));
    const ctx = device === 'gpu' ? await gpu.context() : undefined;
    const result = await autobkBatch(input, options, {
      device,
      ...(ctx ? { gpu: ctx } : {}),
      chir,
      notice: (m) => notices.push(m),
      onProgress: (p) => {
        progress.value = p.fraction;
        status.textContent = `fitting: ${p.done} / ${p.total} spectra`;
      },
    });
    const records = result.toRecords();
    const problems = records.map((r, i) => (r.status === 'error' ? null : (edgeStepProblem(r.edgeStep) ?? fallingMuProblem(spectra[i]!.energy, spectra[i]!.mu))));
    run = { spectra, names: spectra.map((s) => s.name), records, result, options, chir, kweight: chir.kweight ?? 2, problems };
    const failed = records.filter((r) => r.status === 'error');
    for (const r of failed) showError(errors(), spectra[r.index]!.name, r.status === 'error' ? r.error : '');
    // As the CLI: a fit of μ without a rising edge (It/I0, a flat channel) is named, not shown as a χ.
    for (const [i, p] of problems.entries()) if (p !== null) showError(errors(), spectra[i]!.name, p);
    const where = result.device === 'gpu' ? `WebGPU (${gpu.adapter})` : 'the CPU';
    status.textContent = `${records.length - failed.length} of ${records.length} spectra fitted on ${where} in ${fmt((performance.now() - t0) / 1000, 3)} s${notices.length ? ` — ${notices.join(' ')}` : ''}`;
    status.dataset.device = result.device;
    selected = Math.max(0, records.findIndex((r) => r.status !== 'error'));
    showResults();
  } catch (e) {
    showError(errors(), 'autobkBatch', e);
    status.textContent = 'the batch failed (see the message above)';
  } finally {
    button.disabled = false;
    progress.hidden = true;
  }
}

function showResults(): void {
  if (run === null) return;
  const { records, names } = run;
  byId('xafs-results').hidden = false;
  const body = byId('xafs-table').querySelector('tbody')!;
  body.replaceChildren(
    ...records.map((r, i) => {
      const tr = document.createElement('tr');
      tr.dataset.index = String(i);
      tr.dataset.status = r.status;
      const cells = r.status === 'error' ? [String(i), names[i]!, 'error', '', '', '', ''] : [String(i), names[i]!, r.status, fmt(r.e0, 7), fmt(r.edgeStep, 5), String(r.details.nspl), fmt(r.details.chisqr, 4)];
      for (const [j, c] of cells.entries()) {
        const td = document.createElement('td');
        td.textContent = c;
        // Full precision for whoever reads the page (the app test compares with Node's numbers).
        if (r.status !== 'error' && j === 3) td.dataset.e0 = String(r.e0);
        if (r.status !== 'error' && j === 4) td.dataset.edgeStep = String(r.edgeStep);
        tr.append(td);
      }
      tr.addEventListener('click', () => select(i));
      return tr;
    }),
  );
  const series = records.length > 1;
  byId('xafs-series').hidden = !series;
  const slider = byId<HTMLInputElement>('xafs-slider');
  slider.max = String(records.length - 1);
  if (series) void heatmap();
  select(selected);
}

function select(i: number): void {
  if (run === null) return;
  selected = i;
  byId<HTMLInputElement>('xafs-slider').value = String(i);
  byId('xafs-slider-out').textContent = `${i}: ${run.names[i]}`;
  for (const tr of byId('xafs-table').querySelectorAll('tbody tr')) tr.classList.toggle('selected', (tr as HTMLElement).dataset.index === String(i));
  void spectrumPlots(i);
}

async function spectrumPlots(i: number): Promise<void> {
  const r = run!.records[i]!;
  const name = run!.names[i]!;
  const w = run!.kweight;
  if (r.status === 'error') return;
  // μ as read, bkg on the fit's (cleaned) grid.
  const src = run!.spectra[i]!;
  const muValues: object[] = [];
  for (let j = 0; j < src.energy.length; j++) if (Number.isFinite(src.mu[j]!)) muValues.push({ energy: src.energy[j], value: src.mu[j], curve: 'μ' });
  for (let j = 0; j < r.energy.length; j++) muValues.push({ energy: r.energy[j], value: r.bkg[j], curve: 'bkg' });
  const kValues = Array.from(r.k, (k, j) => ({ k, chik: r.chi[j]! * k ** w }));
  const rValues = r.chir ? Array.from(r.chir.r, (rr, j) => ({ r: rr, mag: r.chir!.mag[j] })) : [];
  await Promise.all([
    plot(byId('xafs-mu-plot'), lineSpec(muValues, { field: 'energy', title: 'Energy (eV)' }, { field: 'value', title: 'μ(E)' }, `μ and bkg: ${name}`, { field: 'curve', title: '' })),
    plot(byId('xafs-chik-plot'), lineSpec(kValues, { field: 'k', title: 'k (Å⁻¹)' }, { field: 'chik', title: `k${sup(w)}·χ(k) (Å${sup(-w)})` }, `χ(k)·k${sup(w)}: ${name}`)),
    plot(byId('xafs-chir-plot'), lineSpec(rValues, { field: 'r', title: 'R (Å)', zero: true }, { field: 'mag', title: `|χ(R)| (Å${sup(-(w + 1))})`, zero: true }, `|χ(R)|: ${name}`)),
  ]);
}

const SUP: Record<string, string> = { '-': '⁻', 0: '⁰', 1: '¹', 2: '²', 3: '³', 4: '⁴', 5: '⁵', 6: '⁶', 7: '⁷', 8: '⁸', 9: '⁹' };
function sup(n: number): string {
  return String(n).replace(/./g, (c) => SUP[c] ?? c);
}

/** k^w·χ(k) of every spectrum as a heat map (at most ~200 k columns and 400 spectra drawn). */
async function heatmap(): Promise<void> {
  const { records, kweight: w } = run!;
  const ok = records.filter((r): r is AutobkBatchSuccess => r.status !== 'error');
  const kStride = Math.max(1, Math.ceil((ok[0]?.k.length ?? 1) / 200));
  const sStride = Math.max(1, Math.ceil(ok.length / 400));
  const values: object[] = [];
  for (let s = 0; s < ok.length; s += sStride) {
    const r = ok[s]!;
    for (let j = 0; j < r.k.length; j += kStride) values.push({ k: r.k[j], spectrum: r.index, chik: r.chi[j]! * r.k[j]! ** w });
  }
  const dk = (ok[0]?.k[1] ?? 0.05) - (ok[0]?.k[0] ?? 0);
  await plot(
    byId('xafs-heatmap'),
    heatSpec(values, { field: 'k', title: 'k (Å⁻¹)', step: dk * kStride }, { field: 'spectrum', title: 'spectrum', step: sStride }, { field: 'chik', title: `k${sup(w)}χ (Å${sup(-w)})`, scheme: 'redblue', domainMid: 0 }, `k${sup(w)}·χ(k) of the series`),
    'canvas',
  );
}

function fitted(): AutobkBatchSuccess[] {
  return (run?.records ?? []).filter((r): r is AutobkBatchSuccess => r.status !== 'error');
}

/** A table of one column per fitted spectrum against a shared axis, as the CLI's batch CSV. */
function wideCsv(axis: { name: string; unit: string; description: string; values: ArrayLike<number> }, rows: (r: AutobkBatchSuccess) => ArrayLike<number>, unit: string, what: string): string {
  const ok = fitted();
  return columnsCsv(
    ['batchfit autobkBatch (browser)', `spectra: ${ok.length}`],
    [axis, ...ok.map((r) => ({ name: run!.names[r.index]!.replace(/[,\s]+/g, '_'), unit, description: `${what} of ${run!.names[r.index]}`, values: rows(r) }))],
  );
}

function downloads(): void {
  byId('xafs-dl-chi').addEventListener('click', () => {
    const ok = fitted();
    if (ok.length === 0) return;
    const k = ok.reduce((a, r) => (r.k.length > a.length ? r.k : a), ok[0]!.k);
    download('autobk.chi.csv', wideCsv({ name: 'k', unit: 'Å⁻¹', description: 'photo-electron wavenumber', values: k }, (r) => r.chi, '1', 'χ(k)'));
  });
  byId('xafs-dl-chir').addEventListener('click', () => {
    const ok = fitted().filter((r) => r.chir !== undefined);
    if (ok.length === 0) return;
    download('autobk.chir.csv', wideCsv({ name: 'r', unit: 'Å', description: 'radial distance', values: ok[0]!.chir!.r }, (r) => r.chir!.mag, `Å^-${run!.kweight + 1}`, '|χ(R)|'));
  });
  byId('xafs-dl-bkg').addEventListener('click', () => {
    const r = run?.records[selected];
    if (!r || r.status === 'error') return;
    const name = run!.names[selected]!;
    download(`${name.replace(/[^\w.-]+/g, '_')}.bkg.csv`, columnsCsv([`batchfit autobk (browser): ${name}`, `e0 = ${r.e0} eV, edge step = ${r.edgeStep}`], [
      { name: 'energy', unit: 'eV', description: 'energy (cleaned grid of the fit)', values: r.energy },
      { name: 'bkg', unit: '1', description: 'AUTOBK background μ₀(E)', values: r.bkg },
    ]));
  });
  // The file `batchfit autobk-batch --out` writes (Arrow IPC, one row per spectrum), from the same builders.
  byId('xafs-dl-arrow').addEventListener('click', () => {
    if (run === null) return;
    const bytes = arrowFile(AUTOBK_BATCH_COLUMNS, autobkTableMetadata(run.options, run.chir, 'batchfit web app'), [autobkRows(run.result, run.names, (i) => fitError(run!.result, i) ?? run!.problems[i] ?? null)]);
    download('autobk.arrow', bytes, 'application/vnd.apache.arrow.file');
  });
  byId('xafs-dl-summary').addEventListener('click', () => {
    if (run === null) return;
    const lines = ['name,status,e0,edge_step,nknots,chisqr,error'];
    for (const r of run.records) {
      const name = JSON.stringify(run.names[r.index]);
      lines.push(r.status === 'error' ? `${name},error,,,,,${JSON.stringify(r.error)}` : `${name},${r.status},${r.e0},${r.edgeStep},${r.details.nspl},${r.details.chisqr},`);
    }
    download('autobk.summary.csv', `${lines.join('\n')}\n`);
  });
}

export function setupXafs(gpu: GpuHandle): void {
  fileDrop(byId('xafs-drop'), byId<HTMLInputElement>('xafs-files'), (list) => void addFiles(list));
  byId('xafs-preview-file').addEventListener('change', showColumns);
  byId('xafs-energy').addEventListener('change', (e) => {
    const f = previewFile();
    if (f) choices.set(columnsKey(f), { ...choiceFor(f), energy: (e.target as HTMLSelectElement).value });
    void preview();
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  byId('xafs-mu').addEventListener('input', (e) => {
    const f = previewFile();
    if (f) choices.set(columnsKey(f), { ...choiceFor(f), mu: (e.target as HTMLInputElement).value });
    clearTimeout(timer);
    timer = setTimeout(() => void preview(), 250);
  });
  byId('xafs-run').addEventListener('click', () => void runBatch(gpu));
  byId<HTMLInputElement>('xafs-slider').addEventListener('input', (e) => select(Number((e.target as HTMLInputElement).value)));
  downloads();
}
