/** ReadbackBuffer.mapProbing: the data of a plain mapping, with the polling cut into probes. */
import { describe, expect, test } from 'vitest';
import { createStorageBuffer, ReadbackBuffer, upload } from '../../src/gpu/buffers.js';
import { gpuLabel, testGpu } from '../util/gpu.js';

const ctx = await testGpu();

describe.skipIf(!ctx)(`ReadbackBuffer ${gpuLabel(ctx)}`, () => {
  test('mapProbing returns what map returns, whether the work is done at the first probe or many probes later', async () => {
    const n = 1 << 22;
    const data = new Float32Array(n).map((_, i) => i % 977);
    const storage = createStorageBuffer(ctx!, 'probe test', 4 * n);
    const readback = new ReadbackBuffer(ctx!, 'probe test read-back', 4 * n);
    try {
      for (const probeMs of [50, 0]) {
        upload(ctx!, storage, data);
        // 16 MiB copied twice more per submission: long enough on a software adapter for several probes.
        ctx!.submit((enc) => {
          for (let r = 0; r < 3; r++) readback.copyFrom(enc, storage, 4 * n);
        });
        const mapped = await readback.mapProbing(4 * n, 0.5, probeMs);
        expect(new Float32Array(mapped, 0, n)).toEqual(data);
        readback.unmap();
        expect(readback.mapped).toBe(false);
      }
      // Aborting pending mappings raised no device error.
      expect(() => ctx!.assertUsable()).not.toThrow();
    } finally {
      storage.destroy();
      readback.destroy();
    }
  });
});
