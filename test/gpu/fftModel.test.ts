/**
 * scripts/fft-wavefronts.mjs, the model of the FFT kernel's workgroup-memory traffic: its plan
 * and twiddle table are the kernel's (src/gpu/fft.ts), its kernels compute a correct DFT with the
 * indices they are charged for, and the rewritten kernel meets issue 11's bound. No GPU needed.
 */
import { execFileSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fftKernelPlan, fftTwiddles, type FftKernelPlan } from '../../src/gpu/fft.js';
import { wgslSources } from '../../src/gpu/wgsl.generated.js';

interface KernelCounts {
  wavefronts: number;
  workgroupLoads: number;
  workgroupStores: number;
  twiddleL1: number;
  conflictedInstructions: number;
  maxRelError: number;
  workgroupSize: number;
}
interface ModelResult {
  n: number;
  nOut: number;
  old: KernelCounts;
  new: KernelCounts & FftKernelPlan;
}
interface ModelModule {
  model(n: number, options?: { wg?: number; nOut?: number }): ModelResult;
  newPlan(n: number): FftKernelPlan & { passes: unknown[] };
  newTwiddles(n: number): Float64Array;
}

const script = resolve(dirname(fileURLToPath(import.meta.url)), '../../scripts/fft-wavefronts.mjs');
const { model, newPlan, newTwiddles } = (await import(pathToFileURL(script).href)) as ModelModule;
const SIZES = [256, 512, 1024, 2048, 4096, 8192];

describe('FFT wavefront model (scripts/fft-wavefronts.mjs)', () => {
  it.each(SIZES)('models the shipped kernel: plan and twiddle table of src/gpu/fft.ts, n = %i', (n) => {
    const { passes: _passes, ...plan } = newPlan(n);
    expect(plan).toEqual(fftKernelPlan(n));
    const f32 = fftTwiddles(n);
    const f64 = newTwiddles(n);
    expect(f64.length).toBe(f32.length);
    expect(Array.from(f64, Math.fround)).toEqual(Array.from(f32));
  });

  it('derives the pass structure as the WGSL does', () => {
    const wgsl = wgslSources.fft!;
    // FIRST_STAGES = log2m mod 4, or 4; 16 points per invocation.
    expect(wgsl).toContain('override FIRST_STAGES: u32 = (LOG2_M + 3u) % 4u + 1u;');
    expect(wgsl).toContain('override WG: u32 = M / 16u;');
    expect(wgsl).toContain('fn swizzle(a: u32) -> u32 {\n  return a ^ ((a >> 4u) & 15u);');
    expect(SIZES.map((n) => fftKernelPlan(n).firstRadix)).toEqual([8, 16, 2, 4, 8, 16]);
  });

  it('n = 2048: the new kernel needs at most 1300 wavefronts per column, none conflicted; the old one ~4000', () => {
    const r = model(2048);
    expect(r.new.wavefronts).toBeLessThanOrEqual(1300);
    expect(r.new.conflictedInstructions).toBe(0);
    expect(r.old.wavefronts).toBeGreaterThan(3900);
    // Both modelled kernels are exact FFTs (float64) with the indices they are charged for.
    expect(r.new.maxRelError).toBeLessThan(1e-13);
    expect(r.old.maxRelError).toBeLessThan(1e-13);
  });

  it.each(SIZES)('n = %i: conflict-free and below the old kernel, also with 40 bins', (n) => {
    for (const nOut of [n / 2 + 1, 40]) {
      const r = model(n, { nOut });
      expect(r.new.conflictedInstructions).toBe(0);
      expect(r.new.wavefronts).toBeLessThan(r.old.wavefronts / 3);
      expect(r.new.maxRelError).toBeLessThan(1e-13);
    }
  });

  it('prints JSON for --n and --wg', () => {
    const out = execFileSync(process.execPath, [script, '--n', '512', '--wg', '64'], { encoding: 'utf8' });
    const r = JSON.parse(out) as ModelResult;
    expect(r.n).toBe(512);
    expect(r.old.workgroupSize).toBe(64);
    expect(r.new.workgroupSize).toBe(16);
    expect(() => execFileSync(process.execPath, [script, '--n', '1000'], { stdio: 'pipe' })).toThrow(/power of two/);
  });
});
