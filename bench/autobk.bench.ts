/**
 * AUTOBK timings per spectrum on every XAFS fixture: autobk with e0 and edge step given, preEdge
 * (with and without findE0), preEdge + autobk, and side by side the naive design that recomputes
 * the Jacobian columns with nspl 2048-point FFTs at every LM iteration; the truncated DFT against
 * the FFT for building the Fourier design; GC events during a 1000-spectrum loop.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { Bench } from 'tinybench';
import { realFftPlan } from '../src/math/fft.js';
import {
  AutobkProblem,
  autobk,
  autobkResult,
  autobkSetup,
  autobkSolve,
  fourierDesign,
  preEdge,
  readSpectrum,
  type AutobkOptions,
  type AutobkSetup,
} from '../src/xafs/index.js';
import { machineInfo, projectRoot, slug, summarize, writeResult } from './util.js';

export interface Case {
  name: string;
  file: string;
  mu: number | string;
}

export const CASES: Case[] = [
  { name: 'cu_rt01', file: 'cu_rt01.xmu', mu: 2 },
  { name: 'fe2o3_rt1', file: 'fe2o3_rt1.xmu', mu: 2 },
  { name: 'mn_cpmnco3', file: 'mn_cpmnco3.dat', mu: 2 },
  { name: 'znse_zn_xafs', file: 'znse_zn_xafs.001', mu: 'log(c3/c4)' },
  { name: 'scorodite_as_trans', file: 'scorodite_as_xafs.001', mu: 'log(c4/c5)' },
  { name: 'scorodite_as_fluor', file: 'scorodite_as_xafs.001', mu: 'sum(c45:c57)/c4' },
  { name: 'cu_romanglass_fluor', file: 'cu_romanglass.xdi', mu: 2 },
  { name: 'ru_qas', file: 'Ru_QAS.dat', mu: 'log(c2/c3)' },
];

const RESID_FT_SCALE = 0.05 / Math.sqrt(Math.PI);

/**
 * The pre-optimisation design: residual FFT rows from a 2048-point FFT of χ·ftwin at every
 * evaluation, and every Jacobian column from its own 2048-point FFT at every iteration.
 */
class NaiveAutobkProblem extends AutobkProblem {
  private readonly x: Float64Array;
  private readonly spec: Float64Array;
  private readonly chiBuf: Float64Array;

  constructor(setup: AutobkSetup) {
    super(setup);
    this.x = new Float64Array(setup.nfft);
    this.spec = new Float64Array(setup.nfft + 2);
    this.chiBuf = new Float64Array(setup.kout.length);
  }

  override residuals(c: Float64Array, out: Float64Array): void {
    const s = this.setup;
    const rows = 2 * s.irbkg;
    this.chi(c, this.chiBuf);
    for (let i = 0; i < this.chiBuf.length; i++) this.x[i] = this.chiBuf[i]! * s.ftwin[i]! - (s.chiStd === null ? 0 : s.chiStd[i]! * s.ftwin[i]!);
    realFftPlan(s.nfft).forward(this.x.subarray(0, this.chiBuf.length), this.spec);
    let ss = 0;
    for (let i = 0; i < rows; i++) {
      out[i] = RESID_FT_SCALE * this.spec[i]!;
      ss += out[i]! ** 2;
    }
    // Clamp rows as in the optimised problem (same objective).
    const scale = 0.1 + (10 * ss) / rows;
    const nk = s.kout.length;
    for (let q = 0; q < s.nclamp; q++) {
      out[rows + q] = s.clampLo * scale * this.chiBuf[q]!;
      out[rows + s.nclamp + q] = s.clampHi * scale * this.chiBuf[nk - s.nclamp + q]!;
    }
  }

  override jacobian(c: Float64Array, jac: Float64Array): void {
    const s = this.setup;
    const rows = 2 * s.irbkg;
    const nk = s.kout.length;
    for (let j = 0; j < s.nspl; j++) {
      this.x.fill(0, 0, nk);
      for (let i = 0; i < nk; i++) {
        const local = j - s.basisK.first[i]!;
        if (local >= 0 && local < 4) this.x[i] = -s.ftwin[i]! * s.basisK.vals[4 * i + local]!;
      }
      realFftPlan(s.nfft).forward(this.x.subarray(0, nk), this.spec);
      for (let i = 0; i < rows; i++) s.A[j * rows + i] = RESID_FT_SCALE * this.spec[i]!;
    }
    super.jacobian(c, jac);
  }
}

function naiveAutobk(energy: Float64Array, mu: Float64Array, options: AutobkOptions): number {
  const setup = autobkSetup(energy, mu, options);
  const sol = autobkSolve(setup, {}, new NaiveAutobkProblem(setup));
  return autobkResult(setup, sol).details.chisqr;
}

/** The Fourier design through nspl + 1 full 2048-point FFTs, for comparison with the truncated DFT. */
function fftDesign(setup: AutobkSetup, A: Float64Array, b: Float64Array, x: Float64Array, spec: Float64Array): void {
  const { nspl, irbkg, kout, ftwin, basisK, chiData, nfft } = setup;
  const rows = 2 * irbkg;
  const nk = kout.length;
  const plan = realFftPlan(nfft);
  for (let j = 0; j < nspl; j++) {
    x.fill(0);
    for (let i = 0; i < nk; i++) {
      const local = j - basisK.first[i]!;
      if (local >= 0 && local < 4) x[i] = -ftwin[i]! * basisK.vals[4 * i + local]!;
    }
    plan.forward(x, spec);
    for (let i = 0; i < rows; i++) A[j * rows + i] = RESID_FT_SCALE * spec[i]!;
  }
  x.fill(0);
  for (let i = 0; i < nk; i++) x[i] = ftwin[i]! * chiData[i]!;
  plan.forward(x, spec);
  for (let i = 0; i < rows; i++) b[i] = RESID_FT_SCALE * spec[i]!;
}

export default async function run(): Promise<void> {
  const dir = join(projectRoot, 'test', 'fixtures', 'xafs');
  const data = CASES.map((c) => {
    const s = readSpectrum(readFileSync(join(dir, c.file), 'utf8'), { mu: c.mu, fileName: c.file });
    const pre = preEdge(s.energy, s.mu);
    return { ...c, energy: s.energy, mu: s.mu, opts: { e0: pre.e0, edgeStep: pre.edgeStep } as AutobkOptions };
  });

  const bench = new Bench({ time: 300, warmupTime: 100 });
  for (const d of data) {
    bench.add(`autobk ${d.name}`, () => void autobk(d.energy, d.mu, d.opts));
    bench.add(`naive ${d.name}`, () => void naiveAutobk(d.energy, d.mu, d.opts));
    bench.add(`preEdge ${d.name}`, () => void preEdge(d.energy, d.mu));
    bench.add(`preEdge(e0) ${d.name}`, () => void preEdge(d.energy, d.mu, { e0: d.opts.e0! }));
    bench.add(`preEdge+autobk ${d.name}`, () => void autobk(d.energy, d.mu));
  }
  const cu = data[0]!;
  const cuSetup = autobkSetup(cu.energy, cu.mu, cu.opts);
  const A = new Float64Array(cuSetup.A.length);
  const b = new Float64Array(cuSetup.b.length);
  const x = new Float64Array(cuSetup.nfft);
  const spec = new Float64Array(cuSetup.nfft + 2);
  bench.add('design truncated DFT cu_rt01', () => fourierDesign(cuSetup, A, b));
  bench.add('design 2048-point FFTs cu_rt01', () => fftDesign(cuSetup, A, b, x, spec));
  await bench.run();
  const tasks = summarize(bench);
  const ms = (name: string): number => tasks.find((t) => t.name === name)!.medianMs;

  // GC during 1000 spectra (e0 and edge step given), after warm-up.
  for (let i = 0; i < 200; i++) autobk(cu.energy, cu.mu, cu.opts);
  const counts = { minor: 0, major: 0, incremental: 0, weakcb: 0 };
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) counts.minor++;
      else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) counts.major++;
      else if (kind === constants.NODE_PERFORMANCE_GC_INCREMENTAL) counts.incremental++;
      else counts.weakcb++;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  const t0 = performance.now();
  for (let i = 0; i < 1000; i++) autobk(cu.energy, cu.mu, cu.opts);
  const loopMs = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 50));
  obs.disconnect();

  const perCase = data.map((d) => ({
    name: d.name,
    autobkMs: ms(`autobk ${d.name}`),
    naiveMs: ms(`naive ${d.name}`),
    naiveOverOptimised: ms(`naive ${d.name}`) / ms(`autobk ${d.name}`),
    preEdgeMs: ms(`preEdge ${d.name}`),
    preEdgeE0GivenMs: ms(`preEdge(e0) ${d.name}`),
    preEdgePlusAutobkMs: ms(`preEdge+autobk ${d.name}`),
  }));
  const machine = machineInfo();
  const result = {
    machine,
    date: new Date().toISOString(),
    perCase,
    design: { truncatedDftMs: ms('design truncated DFT cu_rt01'), fft2048Ms: ms('design 2048-point FFTs cu_rt01') },
    gc: { spectra: 1000, loopMs, perSpectrumMs: loopMs / 1000, scavenges: counts.minor, majors: counts.major, incremental: counts.incremental, other: counts.weakcb },
    tasks,
  };
  console.table(perCase.map((p) => ({ ...p, naiveOverOptimised: p.naiveOverOptimised.toFixed(1) })));
  console.log('design (cu_rt01):', result.design);
  console.log('gc over 1000 spectra:', result.gc);
  console.log('wrote', writeResult(`autobk-${slug(machine.cpu)}`, result));
}
