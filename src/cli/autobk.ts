/**
 * `batchfit autobk <file> [options]`: Larch's autobk on one spectrum, then pre_edge (norm, flat,
 * the pre-/post-edge lines) and xftf (χ(R)); prints e0, edge step, knots and chisqr; writes
 * PREFIX.chi.csv (k, chi, chik), PREFIX.mu.csv (energy, mu, bkg, pre_edge, post_edge, norm, flat)
 * and PREFIX.chir.csv (r, chir_mag, chir_re, chir_im), and with --plot three SVG plots.
 */
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Command } from 'commander';
// From the modules themselves, not the xafs index, whose batch modules start worker threads'
// handlers on import: this file also runs inside a worker (the fuzz suite's).
import { autobk, MAX_CLAMP, MAX_RBKG, type AutobkOptions } from '../xafs/autobk.js';
import { preEdge, type PreEdgeOptions } from '../xafs/preEdge.js';
import { clipForMessage } from '../xafs/readSpectrum.js';
import { MAX_K, MAX_KSTEP, MAX_KWEIGHT, MAX_NFFT, MAX_R, MIN_KSTEP, MIN_NFFT } from '../xafs/validate.js';
import { edgeStepProblem, fallingMuProblem } from '../xafs/edgeChecks.js';
import { xftf, type XftfOptions } from '../xafs/xft.js';
import { columnsCsv } from '../io/csv.js';
import { renderSvg } from '../plot/render.js';
import { chikPlot, chirPlot, muPlot } from '../plot/xafs.js';
import { checkInputFile, checkOutputs, columnArg, EXIT_CODES, type NumberRange, numberArg, parseCommand, parseNumberOption, readSpectrumChoosingMu, readTextFile, reportError, UsageError } from './args.js';

/**
 * The numeric AUTOBK options of the command line and their ranges, the library's own
 * (src/xafs/validate.ts), checked here so that a bad value is a usage error (exit 2) before the
 * file is read; the library checks the data-dependent limits (e0 inside the energy range, kmax
 * clipped to the data). The clamp weights' bound is autobk's (|clamp| ≤ 1000).
 */
export const NUMERIC: Record<string, { key: keyof AutobkOptions; range: NumberRange; arg: string; help: string }> = {
  '--e0': { key: 'e0', range: {}, arg: 'eV', help: 'edge energy (Larch e0); default: from pre_edge (find_e0)' },
  '--edge-step': { key: 'edgeStep', range: {}, arg: 'step', help: 'edge step in μ units (Larch edge_step); default: from pre_edge; must be > 0' },
  '--rbkg': { key: 'rbkg', range: { min: 0, max: MAX_RBKG, minOpen: true }, arg: 'Å', help: 'R below which χ(R) is minimised (Larch rbkg), default 1' },
  '--kweight': { key: 'kweight', range: { min: 0, max: MAX_KWEIGHT }, arg: 'w', help: 'k-weight of the background fit (Larch autobk kweight), default 1' },
  '--kmin': { key: 'kmin', range: { min: 0, max: MAX_K }, arg: 'Å⁻¹', help: 'start of the spline k range (Larch autobk kmin), default 0' },
  '--kmax': { key: 'kmax', range: {}, arg: 'Å⁻¹', help: 'end of the spline k range (Larch autobk kmax), default: the data end' },
  '--nknots': { key: 'nknots', range: { min: 1, integer: true }, arg: 'n', help: 'spline knots (Larch nknots), default 2·rbkg·(kmax−kmin)/π + 1, in [5, 128]' },
  '--dk': { key: 'dk', range: { min: 0, max: MAX_K }, arg: 'Å⁻¹', help: 'window sill of the background fit (Larch autobk dk), default 0.1' },
  '--nclamp': { key: 'nclamp', range: { min: 0, max: 100, integer: true }, arg: 'n', help: 'points of χ(k) held towards 0 at each end (Larch nclamp), default 3' },
  '--clamp-lo': { key: 'clampLo', range: { min: -MAX_CLAMP, max: MAX_CLAMP }, arg: 'w', help: 'weight of the low-k clamp (Larch clamp_lo), default 0' },
  '--clamp-hi': { key: 'clampHi', range: { min: -MAX_CLAMP, max: MAX_CLAMP }, arg: 'w', help: 'weight of the high-k clamp (Larch clamp_hi), default 1' },
  '--nfft': { key: 'nfft', range: { min: MIN_NFFT, max: MAX_NFFT, powerOfTwo: true }, arg: 'n', help: 'FFT size (Larch nfft), default 2048' },
  '--kstep': { key: 'kstep', range: { min: MIN_KSTEP, max: MAX_KSTEP }, arg: 'Å⁻¹', help: 'k grid step (Larch kstep), default 0.05' },
};

const WINDOWS = ['hanning', 'parzen', 'welch', 'kaiser', 'gaussian', 'sine'];

/** Checks a window name (the library matches names on their first three letters). */
function windowName(option: string, v: string): string {
  if (!WINDOWS.some((w) => w.slice(0, 3) === v.trim().toLowerCase().slice(0, 3))) {
    throw new UsageError(`${option} = '${clipForMessage(v)}' is not one of ${WINDOWS.join(', ')}`);
  }
  return v;
}

/**
 * Sets the AUTOBK option `a` (a name of NUMERIC, or --win) from `v`; false when `a` is not one of
 * them. Throws a UsageError for a value out of range.
 */
export function setAutobkOption(options: AutobkOptions, a: string, v: string): boolean {
  if (a === '--win') {
    options.win = windowName(a, v);
    return true;
  }
  const spec = NUMERIC[a];
  if (spec === undefined) return false;
  (options as Record<string, number>)[spec.key] = parseNumberOption(a, v, spec.range);
  return true;
}

/** Adds the AUTOBK options to `cmd`, each writing its checked value into `options`. */
export function addAutobkOptions(cmd: Command, options: AutobkOptions, skip: readonly string[] = []): Command {
  for (const [name, spec] of Object.entries(NUMERIC)) {
    if (skip.includes(name)) continue;
    cmd.option(`${name} <${spec.arg}>`, spec.help, (v: string) => void setAutobkOption(options, name, v));
  }
  cmd.option('--win <name>', `window of the background fit (Larch autobk win): ${WINDOWS.join(', ')}; default hanning`, (v: string) => void setAutobkOption(options, '--win', v));
  const pre = (key: keyof PreEdgeOptions, name: string, range: NumberRange) => (v: string) => {
    options.preEdgeOptions = { ...options.preEdgeOptions, [key]: parseNumberOption(name, v, range) };
  };
  return cmd
    .option('--pre1 <eV>', 'pre-edge range start, relative to e0 (Larch pre1); default from the data', pre('pre1', '--pre1', {}))
    .option('--pre2 <eV>', 'pre-edge range end, relative to e0 (Larch pre2); default from the data', pre('pre2', '--pre2', {}))
    .option('--norm1 <eV>', 'normalisation range start, relative to e0 (Larch norm1); default from the data', pre('norm1', '--norm1', {}))
    .option('--norm2 <eV>', 'normalisation range end, relative to e0 (Larch norm2); default from the data', pre('norm2', '--norm2', {}))
    .option('--nnorm <n>', 'degree of the post-edge polynomial, 0…5 (Larch nnorm); default from the range width', pre('nnorm', '--nnorm', { min: 0, max: 5, integer: true }));
}

/** The χ(R) transform's options (Larch xftf), with its defaults shown in --help. */
export function addXftfOptions(cmd: Command, ft: XftfOptions): Command {
  const set = <K extends keyof XftfOptions>(key: K, f: (v: string) => XftfOptions[K]) => (v: string) => void (ft[key] = f(v));
  return cmd
    .option('--ft-kmin <Å⁻¹>', 'χ(R) window start (Larch xftf kmin), default 0', set('kmin', numberArg('--ft-kmin', { min: 0, max: MAX_K })))
    .option('--ft-kmax <Å⁻¹>', 'χ(R) window end (Larch xftf kmax), default 20', set('kmax', numberArg('--ft-kmax', { min: 0, max: MAX_K })))
    .option('--ft-dk <Å⁻¹>', 'χ(R) window sill (Larch xftf dk), default 1', set('dk', numberArg('--ft-dk', { min: 0, max: MAX_K })))
    .option('--window <name>', `χ(R) window (Larch xftf window): ${WINDOWS.join(', ')}; default kaiser`, set('window', (v) => windowName('--window', v)))
    .option('--ft-kweight <w>', 'k-weight of chik and χ(R) (Larch xftf kweight), default 2', set('kweight', numberArg('--ft-kweight', { min: 0, max: MAX_KWEIGHT })))
    .option('--rmax <Å>', 'largest R written (Larch xftf rmax_out), default 10', set('rmaxOut', numberArg('--rmax', { min: 0, max: MAX_R, minOpen: true })));
}

/** The xftf settings with Larch's defaults filled in (for the outputs' headers). */
export function xftfSettings(ft: XftfOptions): Required<Pick<XftfOptions, 'kmin' | 'kmax' | 'dk' | 'window' | 'kweight' | 'rmaxOut'>> {
  return { kmin: ft.kmin ?? 0, kmax: ft.kmax ?? 20, dk: ft.dk ?? 1, window: ft.window ?? 'kaiser', kweight: ft.kweight ?? 2, rmaxOut: ft.rmaxOut ?? 10 };
}

const HELP_AFTER = `
μ without --mu: a file with one column besides the energy takes it; otherwise the one column
labelled mu, xmu, mutrans, mufluor or xmu(trans) is taken, and the command says so; anything
else is an error (exit 2) listing the columns and suggesting --mu expressions.
A spectrum with no rising edge is an error (exit 1): an edge step that is not positive and
finite, or μ whose steepest change (dμ/dE over ±2 points) is a fall: It/I0 instead of ln(I0/It).
Outputs (PREFIX defaults to the file name without its extension; existing files need --force):
  PREFIX.chi.csv   k [Å⁻¹], chi, chik = k^w·chi [Å^-w]
  PREFIX.mu.csv    energy [eV], mu, bkg, pre_edge, post_edge, norm, flat
  PREFIX.chir.csv  r [Å], chir_mag, chir_re, chir_im [Å^-(w+1)]
  --plot: PREFIX.mu.svg (μ, bkg, pre/post-edge lines), PREFIX.chik.svg, PREFIX.chir.svg
${EXIT_CODES}`;

/** Runs `batchfit autobk` on `argv` (the words after the command); resolves to the exit status. */
export async function autobkCommand(argv: string[]): Promise<number> {
  try {
    const options: AutobkOptions = {};
    const ft: XftfOptions = {};
    const cmd = new Command('batchfit autobk')
      .description("Larch's autobk background removal of one spectrum, with pre_edge normalisation and xftf's χ(R)")
      .argument('<file>', 'column file (.xmu, .dat, Epics .001, XDI)')
      .option('--mu <expr>', "μ: a column number or label, or an expression such as 'ln(i0/it)', 'if/i0', 'log(c3/c4)', 'sum(c45:c57)/c4'")
      .option('--energy <col>', 'energy column (eV): number or label, default 1')
      .option('--out <prefix>', 'output prefix, default: the file name without its extension')
      .option('--no-write', 'print the summary only, write no file')
      .option('--plot', 'also write SVG plots')
      .option('--force', 'overwrite existing outputs');
    addAutobkOptions(cmd, options);
    addXftfOptions(cmd, ft);
    cmd.addHelpText('after', HELP_AFTER);
    if (!parseCommand(cmd, argv)) return 0;
    const path = cmd.args[0]!;
    checkInputFile(path);
    const o = cmd.opts<{ mu?: string; energy?: string; out?: string; write: boolean; plot?: boolean; force?: boolean }>();
    const prefix = o.out ?? path.replace(/\.[^./\\]*$/, '');
    const outputs = o.write ? [`${prefix}.chi.csv`, `${prefix}.mu.csv`, `${prefix}.chir.csv`, ...(o.plot ? ['mu', 'chik', 'chir'].map((p) => `${prefix}.${p}.svg`) : [])] : [];
    checkOutputs(outputs, o.force === true);
    const text = readTextFile(path);
    const name = basename(path);
    const energyCol = o.energy === undefined ? 1 : columnArg(o.energy);
    const { spectrum: spec, ...choice } = readSpectrumChoosingMu(text, name, energyCol, o.mu);
    if (choice.note !== null) console.log(`note: ${choice.note}`);
    if (options.edgeStep !== undefined) {
      const bad = edgeStepProblem(options.edgeStep);
      if (bad !== null) throw new UsageError(`--edge-step: ${bad}`);
    }
    const t0 = performance.now();
    const r = autobk(spec.energy, spec.mu, options);
    const bad = edgeStepProblem(r.edgeStep) ?? fallingMuProblem(r.energy, r.mu);
    if (bad !== null) throw new RangeError(`${name}: ${bad}`);
    const pre = preEdge(r.energy, r.mu, { ...options.preEdgeOptions, e0: r.e0, step: r.edgeStep });
    // Both clean the same way; a grid that differed would misalign the columns of PREFIX.mu.csv.
    if (pre.energy.length !== r.energy.length) throw new Error(`${name}: pre_edge kept ${pre.energy.length} points, autobk ${r.energy.length}`);
    const fts = xftfSettings(ft);
    const chir = xftf(r.k, r.chi, { ...fts, ...(ft.nfft === undefined ? {} : { nfft: ft.nfft }) });
    const ms = performance.now() - t0;
    const d = r.details;
    console.log(`${name}: ${r.energy.length} points`);
    console.log(`  e0         ${r.e0} eV`);
    console.log(`  edge step  ${r.edgeStep.toPrecision(8)}`);
    console.log(`  knots      ${d.nspl} (irbkg ${d.irbkg}, k ${d.kmin}..${d.kmax.toFixed(3)} 1/Å, rbkg ${d.rbkg})`);
    console.log(`  chisqr     ${d.chisqr.toPrecision(8)} (redchi ${d.redchi.toPrecision(6)}, ${d.nfev} evaluations, ${ms.toFixed(2)} ms)`);
    for (const w of d.warnings) console.log(`  note: ${w}`);
    if (r.droppedNonFinite > 0) console.log(`  note: ${r.droppedNonFinite} rows with non-finite values dropped`);
    if (!o.write) return 0;
    const w = fts.kweight;
    const chik = r.chi.map((c, i) => c * r.k[i]! ** w);
    const source = `batchfit autobk ${name}: mu = ${typeof choice.mu === 'number' ? `column ${choice.mu} (${spec.labels[choice.mu - 1]})` : choice.mu}, e0 = ${r.e0} eV, edge_step = ${r.edgeStep}`;
    const ftLine = `xftf: kmin = ${fts.kmin}, kmax = ${fts.kmax}, dk = ${fts.dk}, window = ${fts.window}, kweight = ${w}, rmax_out = ${fts.rmaxOut}`;
    writeFileSync(`${prefix}.chi.csv`, columnsCsv([source], [
      { name: 'k', unit: 'Å⁻¹', description: 'photoelectron wavenumber', values: r.k },
      { name: 'chi', unit: '', description: 'χ(k) = (μ − bkg)/edge_step', values: r.chi },
      { name: 'chik', unit: `Å^-${w}`, description: `k^${w}·χ(k)`, values: chik },
    ]));
    writeFileSync(`${prefix}.mu.csv`, columnsCsv([source], [
      { name: 'energy', unit: 'eV', description: 'incident energy (sorted, non-finite rows dropped)', values: r.energy },
      { name: 'mu', unit: '', description: 'absorption μ(E) as read', values: r.mu },
      { name: 'bkg', unit: '', description: 'AUTOBK background μ0(E)', values: r.bkg },
      { name: 'pre_edge', unit: '', description: 'pre-edge line', values: pre.preEdge },
      { name: 'post_edge', unit: '', description: 'post-edge polynomial', values: pre.postEdge },
      { name: 'norm', unit: '', description: '(μ − pre_edge)/edge_step', values: pre.norm },
      { name: 'flat', unit: '', description: 'norm with the post-edge curvature removed', values: pre.flat ?? [] },
    ]));
    writeFileSync(`${prefix}.chir.csv`, columnsCsv([source, ftLine], [
      { name: 'r', unit: 'Å', description: 'radial distance (no phase correction)', values: chir.r },
      { name: 'chir_mag', unit: `Å^-${w + 1}`, description: '|χ(R)|', values: chir.chirMag },
      { name: 'chir_re', unit: `Å^-${w + 1}`, description: 'Re χ(R)', values: chir.chirRe },
      { name: 'chir_im', unit: `Å^-${w + 1}`, description: 'Im χ(R)', values: chir.chirIm },
    ]));
    console.log(`  wrote ${prefix}.chi.csv, ${prefix}.mu.csv and ${prefix}.chir.csv`);
    if (o.plot) {
      writeFileSync(`${prefix}.mu.svg`, await renderSvg(muPlot(name, r.energy, { mu: r.mu, bkg: r.bkg, preEdge: pre.preEdge, postEdge: pre.postEdge })));
      writeFileSync(`${prefix}.chik.svg`, await renderSvg(chikPlot(name, r.k, chik, w)));
      writeFileSync(`${prefix}.chir.svg`, await renderSvg(chirPlot(name, chir.r, chir.chirMag, w)));
      console.log(`  plotted ${prefix}.mu.svg, ${prefix}.chik.svg and ${prefix}.chir.svg`);
    }
    return 0;
  } catch (e) {
    return reportError('batchfit autobk', e);
  }
}
