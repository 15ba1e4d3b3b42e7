/**
 * A GPU device lost in the middle of autobkBatch: the batch is fitted again on the CPU (one
 * notice); retained, every spectrum has the CPU path's result; through onChunk, every spectrum
 * is delivered exactly once, in order, those after the loss from the CPU.
 */
import { describe, expect, it } from 'vitest';
import { GpuContext } from '../../src/gpu/context.js';
import { autobkBatch } from '../../src/xafs/autobkBatch.js';
import type { AutobkBatchResults } from '../../src/xafs/autobkBatchResults.js';
import { loadReference, loadSpectrum, referenceNames } from './fixtures.js';
import { gpuLabel, testGpu } from '../util/gpu.js';

const shared = await testGpu();

describe.skipIf(!shared)(`autobkBatch when the GPU device is lost ${gpuLabel(shared)}`, () => {
  const names = referenceNames.filter((n) => !n.includes('__'));
  const spectra = names.map((n) => loadSpectrum(loadReference(n)));

  it('device.destroy() mid-batch: every spectrum gets the CPU result, with one notice', async () => {
    const ctx = await GpuContext.create();
    const notices: string[] = [];
    let destroyed = false;
    const res = await autobkBatch([...spectra, ...spectra], {}, {
      device: 'gpu',
      gpu: ctx,
      maxChunk: 4,
      notice: (m) => notices.push(m),
      onProgress: () => {
        if (!destroyed) {
          destroyed = true;
          ctx.device.destroy();
        }
      },
    });
    expect(destroyed).toBe(true);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/lost.*fits the batch again on the CPU/);
    const cpu = await autobkBatch([...spectra, ...spectra], {}, { device: 'cpu', workers: 0 });
    expect(res.device).toBe('cpu');
    expect(res.toRecords()).toEqual(cpu.toRecords());
  });

  it('through onChunk: every spectrum delivered once, in order, those after the loss from the CPU', async () => {
    const ctx = await GpuContext.create();
    const batch = [...spectra, ...spectra, ...spectra];
    const seen: number[] = [];
    const records: ReturnType<AutobkBatchResults['toRecords']> = [];
    let destroyed = false;
    await autobkBatch(batch, {}, {
      device: 'gpu',
      gpu: ctx,
      maxChunk: 4,
      notice: () => undefined,
      onChunk: (chunk) => {
        for (let i = 0; i < chunk.count; i++) seen.push(chunk.start + i);
        records.push(...chunk.toRecords());
        if (!destroyed) {
          destroyed = true;
          ctx.device.destroy();
        }
      },
    });
    expect(destroyed).toBe(true);
    expect(seen).toEqual(batch.map((_, i) => i));
    const cpu = (await autobkBatch(batch, {}, { device: 'cpu', workers: 0 })).toRecords();
    // The chunks read back before the loss came from the GPU (its own tolerances); every later
    // spectrum is the CPU's.
    const first = records.findIndex((r) => r.device === 'cpu');
    expect(first).toBeGreaterThan(0);
    for (let i = first; i < batch.length; i++) {
      for (const key of Object.keys(cpu[i]!) as (keyof (typeof cpu)[number])[]) {
        expect(records[i]![key], `spectrum ${i} ${String(key)}`).toEqual(cpu[i]![key]);
      }
    }
    expect(records.slice(0, first).map((r) => r.status)).toEqual(cpu.slice(0, first).map((r) => r.status));
  });
});
