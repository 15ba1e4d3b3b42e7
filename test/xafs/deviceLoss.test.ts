/**
 * A GPU device lost in the middle of autobkBatch: a retained batch is fitted again on the CPU
 * (one notice) and every spectrum has the CPU path's result; a batch delivered through onChunk
 * fails with the device's error instead of losing spectra silently.
 */
import { describe, expect, it } from 'vitest';
import { GpuContext } from '../../src/gpu/context.js';
import { autobkBatch } from '../../src/xafs/autobkBatch.js';
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

  it('through onChunk: the device error, naming what could not be finished', async () => {
    const ctx = await GpuContext.create();
    let destroyed = false;
    await expect(
      autobkBatch(spectra, {}, {
        device: 'gpu',
        gpu: ctx,
        maxChunk: 2,
        onChunk: () => {
          if (!destroyed) {
            destroyed = true;
            ctx.device.destroy();
          }
        },
      }),
    ).rejects.toThrow(/lost.*cannot finish a batch delivered through onChunk/);
  });
});
