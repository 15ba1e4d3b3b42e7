/**
 * Scale invariance of the GPU AUTOBK: χ depends on μ only through μ/edge step, so μ in any unit
 * — absorbance, or raw fluorescence counts with edge steps of 10²–10⁶ — must give the CPU's χ.
 * Every fixture and a packed series, μ × {1e-3, 1, 3000, 1e6}: χ within 1e-4·max|χ| of the CPU's
 * for the same scaled μ. Larch's clamp weight mixes a constant with μ units squared, so beyond
 * an edge step of MAX_GPU_EDGE_STEP the float32 GPU fit is not trusted: those spectra are fitted
 * on the CPU and carry a warning saying so.
 */
import { describe, expect, it } from 'vitest';
import { autobk } from '../../src/xafs/autobk.js';
import { autobkBatch } from '../../src/xafs/autobkBatch.js';
import { CPU_FALLBACK_WARNING } from '../../src/xafs/autobkBatchGpu.js';
import { MAX_GPU_EDGE_STEP } from '../../src/xafs/autobkBatchTypes.js';
import { REDO_WARNING } from '../../src/xafs/autobkSeriesGpu.js';
import { preEdge } from '../../src/xafs/preEdge.js';
import { loadReference, loadSpectrum, maxAbs, maxAbsDiff, referenceNames } from './fixtures.js';
import { gpuLabel, testGpu } from '../util/gpu.js';

const ctx = await testGpu();
const SCALES = [1e-3, 1, 3000, 1e6];

describe.skipIf(!ctx)(`GPU AUTOBK for μ in any unit ${gpuLabel(ctx)}`, () => {
  const names = referenceNames.filter((n) => !n.includes('__'));
  const spectra = names.map((n) => loadSpectrum(loadReference(n)));

  it.each(SCALES)('every fixture, μ × %s: GPU χ equals the CPU χ', async (scale) => {
    const scaled = spectra.map((s) => ({ energy: s.energy, mu: s.mu.map((v) => v * scale) }));
    const gpu = await autobkBatch(scaled, {}, { device: 'gpu', gpu: ctx! });
    for (const [i, s] of scaled.entries()) {
      const cpu = autobk(s.energy, s.mu);
      const g = gpu.at(i)!;
      expect(g.status, `${names[i]} × ${scale}: ${g.status === 'error' ? g.error : ''}`).toBe('converged');
      if (g.status === 'error') continue;
      expect(maxAbsDiff(g.chi, cpu.chi) / maxAbs(cpu.chi), `${names[i]} × ${scale}`).toBeLessThanOrEqual(1e-4);
      expect(Math.abs(g.edgeStep / cpu.edgeStep - 1), `${names[i]} × ${scale} edge step`).toBeLessThanOrEqual(1e-9);
      // Beyond MAX_GPU_EDGE_STEP the spectrum was fitted on the CPU, and says so.
      expect(gpu.warningsOf(i).includes(CPU_FALLBACK_WARNING), `${names[i]} × ${scale} warning`).toBe(Math.abs(cpu.edgeStep) > MAX_GPU_EDGE_STEP);
    }
  });

  it.each(SCALES)('a packed series (one e0, the series path), μ × %s: GPU χ equals the CPU χ', async (scale) => {
    const { energy, mu } = loadSpectrum(loadReference('ru_qas'));
    const pre = preEdge(energy, mu);
    const n = 8;
    const ne = energy.length;
    const rows = new Float64Array(n * ne);
    for (let s = 0; s < n; s++) for (let j = 0; j < ne; j++) rows[s * ne + j] = (mu[j]! * (1 + 0.01 * s)) * scale;
    const gpu = await autobkBatch({ energy, mu: rows, count: n, e0: pre.e0 }, {}, { device: 'gpu', gpu: ctx! });
    for (let s = 0; s < n; s++) {
      const cpu = autobk(energy, rows.subarray(s * ne, (s + 1) * ne), { e0: pre.e0 });
      const g = gpu.at(s)!;
      expect(g.status, `row ${s} × ${scale}`).toBe('converged');
      if (g.status === 'error') continue;
      expect(gpu.warningsOf(s).includes(REDO_WARNING), `row ${s} × ${scale} warning`).toBe(Math.abs(cpu.edgeStep) > MAX_GPU_EDGE_STEP);
      expect(maxAbsDiff(g.chi, cpu.chi) / maxAbs(cpu.chi), `row ${s} × ${scale}`).toBeLessThanOrEqual(1e-4);
    }
  });

  it("a dead channel (constant μ) in a packed series is that row's error, as on the CPU, on both paths", async () => {
    const { energy, mu } = loadSpectrum(loadReference('ru_qas'));
    const pre = preEdge(energy, mu);
    const ne = energy.length;
    const rows = new Float64Array(3 * ne);
    rows.set(mu, 0);
    rows.fill(0.75, ne, 2 * ne);
    rows.set(mu, 2 * ne);
    const cpu = await autobkBatch({ energy, mu: rows, count: 3, e0: pre.e0 }, {}, { device: 'cpu', workers: 0 });
    const gpu = await autobkBatch({ energy, mu: rows, count: 3, e0: pre.e0 }, {}, { device: 'gpu', gpu: ctx! });
    const list = await autobkBatch([0, 1, 2].map((s) => ({ energy, mu: rows.subarray(s * ne, (s + 1) * ne) })), {}, { device: 'gpu', gpu: ctx! });
    for (const r of [cpu, gpu, list]) {
      expect(r.at(0)!.status).toBe('converged');
      expect(r.at(2)!.status).toBe('converged');
      const dead = r.at(1)!;
      expect(dead.status).toBe('error');
    }
    const messageOf = (r: typeof cpu): string => {
      const rec = r.at(1)!;
      return rec.status === 'error' ? rec.error : '';
    };
    expect(messageOf(gpu)).toBe(messageOf(cpu));
    // As a list each row goes through preEdge itself (a step of exactly 0 here, against the
    // series' linear functional's rounding): the same verdict, the value as computed.
    expect(messageOf(list)).toMatch(/^preEdge: edge step = .* no edge in μ/);
    expect(messageOf(cpu)).toMatch(/no edge in μ/);
  });
});
