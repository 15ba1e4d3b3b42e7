import { describe, expect, it } from 'vitest';
import { fftDemo } from '../../src/cli/fftDemo.js';
import { gpuLabel, testGpu } from '../util/gpu.js';

const ctx = await testGpu();

describe('the FFT demo (npm start)', () => {
  it('falls back to the CPU with a one-line notice when there is no adapter, and succeeds', async () => {
    const lines: string[] = [];
    const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
    expect(await fftDemo((l) => lines.push(l), { gpu: noAdapter })).toBe(0);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^batchfit: no WebGPU adapter found.*running on the CPU only\.$/);
    expect(lines[1]).toMatch(/^FFT 1000 × 2048 real columns on the CPU: [\d.]+ ms/);
  });

  it.skipIf(!ctx)(`runs on the GPU and agrees with the CPU within 2e-6·max|X| ${gpuLabel(ctx)}`, async () => {
    const lines: string[] = [];
    expect(await fftDemo((l) => lines.push(l))).toBe(0);
    expect(lines[0]).toMatch(/^GPU: /);
    const m = /max \|GPU − CPU\| = ([\d.e+-]+) × max\|X\|/.exec(lines.join('\n'));
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeLessThanOrEqual(2e-6);
  });
});
