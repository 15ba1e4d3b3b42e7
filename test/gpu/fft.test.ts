import { afterAll, describe, expect, it } from 'vitest';
import { BatchedFft } from '../../src/gpu/fft.js';
import { realFftPlan } from '../../src/math/fft.js';
import { mulberry32 } from '../util/random.js';
import { gpuLabel, testGpu } from '../util/gpu.js';

const ctx = await testGpu();

/** CPU reference (float64) of the first nOut bins of every column, and its max |X|. */
function cpuSpectra(input: Float32Array, columns: number, n: number, inputLength: number, nOut: number) {
  const plan = realFftPlan(n);
  const x = new Float64Array(inputLength);
  const full = new Float64Array(n + 2);
  const ref = new Float64Array(columns * nOut * 2);
  let maxX = 0;
  for (let c = 0; c < columns; c++) {
    for (let j = 0; j < inputLength; j++) x[j] = input[c * inputLength + j]!;
    plan.forward(x, full);
    for (let k = 0; k < 2 * nOut; k++) {
      ref[c * nOut * 2 + k] = full[k]!;
      maxX = Math.max(maxX, Math.abs(full[k]!));
    }
  }
  return { ref, maxX };
}

function randomColumns(count: number, seed: number): Float32Array {
  const rnd = mulberry32(seed);
  return Float32Array.from({ length: count }, () => rnd() * 2 - 1);
}

/** Max |GPU − CPU| over all values, as a fraction of max |X| (the 2e-6 criterion). */
async function relativeError(fft: BatchedFft, columns: number, seed: number): Promise<number> {
  const input = randomColumns(columns * fft.inputLength, seed);
  const { spectrum } = await fft.forward(input, columns);
  const { ref, maxX } = cpuSpectra(input, columns, fft.n, fft.inputLength, fft.nOut);
  let err = 0;
  for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(spectrum[i]! - ref[i]!));
  return err / maxX;
}

// f32 FFT error grows like log2(n)·eps32 in the RMS; 2e-6·max|X| bounds the worst bin (issue 2).
const TOL = 2e-6;

describe.skipIf(!ctx)(`batched GPU FFT ${gpuLabel(ctx)}`, () => {
  const made: BatchedFft[] = [];
  const make = async (o: ConstructorParameters<typeof Object>[0] & Parameters<typeof BatchedFft.create>[1]) => {
    const f = await BatchedFft.create(ctx!, o);
    made.push(f);
    return f;
  };
  afterAll(() => made.forEach((f) => f.destroy()));

  // Pass 0 of the kernel has radix 8, 16, 2, 4, 8 for these sizes (log2(n/2) mod 4), then radix-16 passes.
  for (const n of [256, 512, 1024, 2048, 4096]) {
    for (const columns of [1, 7]) {
      it(`n = ${n}, ${columns} column(s), full output`, async () => {
        const fft = await make({ n, capacity: columns });
        expect(await relativeError(fft, columns, n + columns)).toBeLessThanOrEqual(TOL);
      });
    }
    it(`n = ${n}, 7 columns, first 40 bins only`, async () => {
      const fft = await make({ n, nOut: 40, capacity: 7 });
      expect(await relativeError(fft, 7, 3 * n)).toBeLessThanOrEqual(TOL);
    });
  }

  // n = 8192 fills 32 KiB of workgroup memory with workgroups of 256: three radix-16 passes.
  it.skipIf((ctx?.limits.maxComputeWorkgroupStorageSize ?? 0) < 32768)('n = 8192, 3 columns, full and truncated output', async () => {
    expect(await relativeError(await make({ n: 8192, capacity: 3 }), 3, 8192)).toBeLessThanOrEqual(TOL);
    expect(await relativeError(await make({ n: 8192, nOut: 40, capacity: 3 }), 3, 8193)).toBeLessThanOrEqual(TOL);
  });

  it('n = 2048, 1000 columns, full and truncated output', async () => {
    const full = await make({ n: 2048, capacity: 1000 });
    expect(await relativeError(full, 1000, 11)).toBeLessThanOrEqual(TOL);
    const trunc = await make({ n: 2048, nOut: 37, capacity: 1000 });
    expect(await relativeError(trunc, 1000, 12)).toBeLessThanOrEqual(TOL);
  });

  it('zero-pads short columns (AUTOBK: ~300 k points padded to 2048)', async () => {
    const fft = await make({ n: 2048, nOut: 45, inputLength: 301, capacity: 9 });
    expect(await relativeError(fft, 9, 5)).toBeLessThanOrEqual(TOL);
  });

  it('a batch cut into several chunks gives the same bins as one chunk', async () => {
    const columns = 200;
    // 64 KiB bindings hold 63 columns of 129 bins (1032 B each); chunk starts must keep binding
    // offsets 256-byte aligned, i.e. multiples of 32 columns: 7 chunks in one submission.
    const chunked = await make({ n: 256, capacity: columns, maxBindingBytes: 65536 });
    expect(chunked.chunks(columns).length).toBe(7);
    const whole = await make({ n: 256, capacity: columns });
    expect(whole.chunks(columns).length).toBe(1);
    const input = randomColumns(columns * 256, 99);
    const a = (await chunked.forward(input, columns)).spectrum;
    const b = (await whole.forward(input, columns)).spectrum;
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(await relativeError(chunked, columns, 100)).toBeLessThanOrEqual(TOL);
  });

  it('transforms fewer columns than its capacity, reusing its buffers', async () => {
    const fft = await make({ n: 512, capacity: 50 });
    expect(await relativeError(fft, 3, 1)).toBeLessThanOrEqual(TOL);
    expect(await relativeError(fft, 50, 2)).toBeLessThanOrEqual(TOL);
  });

  it('rejects sizes it cannot run, naming the value', async () => {
    await expect(BatchedFft.create(ctx!, { n: 1000, capacity: 1 })).rejects.toThrow(/n must be a power of two.*1000/);
    await expect(BatchedFft.create(ctx!, { n: 2048, nOut: 2000, capacity: 1 })).rejects.toThrow(/nOut.*2000/);
    // The smallest power of two whose n/2 points (8 bytes each) exceed workgroup memory.
    const tooLarge = 2 ** (Math.floor(Math.log2(ctx!.limits.maxComputeWorkgroupStorageSize / 4)) + 1);
    await expect(BatchedFft.create(ctx!, { n: tooLarge, capacity: 1 })).rejects.toThrow(new RegExp(`n = ${tooLarge} needs ${4 * tooLarge} bytes of workgroup memory`));
    const fft = await make({ n: 256, capacity: 4 });
    await expect(fft.forward(new Float32Array(256), 5)).rejects.toThrow(/1280/);
  });
});
