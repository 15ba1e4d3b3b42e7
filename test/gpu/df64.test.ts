/**
 * The df64 device self-test (src/gpu/df64SelfTest.ts) and the float64 encoders of
 * shaders/df64.wgsl, checked bit for bit against the host's float64 conversion and addition
 * through df64_selftest.wgsl's encode_pairs entry point.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createStorageBuffer, ReadbackBuffer, upload } from '../../src/gpu/buffers.js';
import { df64SelfTest, df64Verdict } from '../../src/gpu/df64SelfTest.js';
import { computePipeline } from '../../src/gpu/pipelines.js';
import { mulberry32 } from '../util/random.js';
import { gpuLabel, testGpu } from '../util/gpu.js';

const ctx = await testGpu();

const bits = new Uint32Array(1);
const view = new Float32Array(bits.buffer);
const f32FromBits = (b: number): number => {
  bits[0] = b;
  return view[0]!;
};
const f32Exponent = (v: number): number => {
  view[0] = v;
  return ((bits[0]! >>> 23) & 0xff) - 127;
};

/**
 * encode_pairs on the device: per pair the words of encodeF32(hi), encodeF32(lo),
 * encodeDf64(hi, lo), then isFiniteBits(hi), isFiniteBits(lo).
 */
async function encodePairs(pairs: Float32Array): Promise<Uint32Array> {
  const c = ctx!;
  const n = pairs.length / 2;
  const pipeline = await computePipeline(c, 'df64_selftest', 'encode_pairs');
  const inBuf = createStorageBuffer(c, 'encode pairs input', pairs.byteLength);
  const outBuf = createStorageBuffer(c, 'encode pairs output', 32 * n);
  const rb = new ReadbackBuffer(c, 'encode pairs read-back', 32 * n);
  try {
    upload(c, inBuf, pairs);
    // Bound to exactly the pairs: the kernel counts them by arrayLength.
    const bind = c.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 1, resource: { buffer: inBuf, size: pairs.byteLength } },
        { binding: 2, resource: { buffer: outBuf } },
      ],
    });
    c.submit((enc) => {
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(Math.ceil(n / 64));
      pass.end();
      rb.copyFrom(enc, outBuf, 32 * n);
    });
    const out = new Uint32Array(8 * n);
    await rb.read(out);
    return out;
  } finally {
    inBuf.destroy();
    outBuf.destroy();
    rb.destroy();
  }
}

/** Host reference words of a float64 (NaN compared as "any NaN", see below). */
function wordsOf(v: number): [number, number] {
  const w = new Uint32Array(new Float64Array([v]).buffer);
  return [w[0]!, w[1]!];
}

/** Text that tells −0 from 0. */
const show = (v: number): string => (Object.is(v, -0) ? '-0' : String(v));

/** Compares the device's words with the host's float64 for every pair; returns the mismatches. */
function mismatches(pairs: Float32Array, out: Uint32Array): string[] {
  const bad: string[] = [];
  const f64 = new Float64Array(out.buffer);
  const check = (what: string, got: number, gotWords: [number, number], ref: number): void => {
    const good = Number.isNaN(ref) ? Number.isNaN(got) : gotWords[0] === wordsOf(ref)[0] && gotWords[1] === wordsOf(ref)[1];
    if (!good) bad.push(`${what}: got ${show(got)} (${gotWords[1]!.toString(16)}:${gotWords[0]!.toString(16)}), expected ${show(ref)}`);
  };
  for (let k = 0; k < pairs.length / 2; k++) {
    const hi = pairs[2 * k]!;
    const lo = pairs[2 * k + 1]!;
    const w = (i: number): [number, number] => [out[8 * k + i]!, out[8 * k + i + 1]!];
    check(`encodeF32(${show(hi)})`, f64[4 * k]!, w(0), hi);
    check(`encodeF32(${show(lo)})`, f64[4 * k + 1]!, w(2), lo);
    // A CPU's f64(hi) + f64(lo) is the correctly rounded sum; a non-finite hi wins over lo.
    check(`encodeDf64(${show(hi)}, ${show(lo)})`, f64[4 * k + 2]!, w(4), Number.isFinite(hi) ? hi + lo : hi);
    if (out[8 * k + 6] !== (Number.isFinite(hi) ? 1 : 0) || out[8 * k + 7] !== (Number.isFinite(lo) ? 1 : 0)) {
      bad.push(`isFiniteBits(${hi}, ${lo}) = ${out[8 * k + 6]}, ${out[8 * k + 7]}`);
    }
  }
  return bad;
}

/**
 * Normalised df64 pairs (|lo| ≤ ulp(hi)/2) of every kind the encoder must round: random
 * exponents over the whole f32 range, lo of both signs and from ulp(hi)/2 down to far below the
 * float64 rounding bit, lo = ±0, hi a power of two with lo of the other sign (the sum falls into
 * the binade below, whose float64 ulp is half as large), and exact ties.
 */
function normalisedPairs(count: number, seed: number): Float32Array {
  const rnd = mulberry32(seed);
  const out = new Float32Array(2 * count);
  for (let k = 0; k < count; k++) {
    // Exponents from the bottom to the top of the normal range, 30 % of them within 4 of the ends.
    const r = rnd();
    const e = r < 0.15 ? -126 + Math.floor(rnd() * 4) : r < 0.3 ? 124 + Math.floor(rnd() * 4) : -126 + Math.floor(rnd() * 254);
    const sign = rnd() < 0.5 ? -1 : 1;
    const kind = k % 5;
    const pow2 = kind === 3;
    const hi = Math.fround(sign * (pow2 ? 1 : 1 + rnd()) * 2 ** e);
    const eh = f32Exponent(hi);
    const tie = kind === 4 || (pow2 && rnd() < 0.5);
    let lo: number;
    if (kind === 0) {
      lo = rnd() < 0.5 ? 0 : -0;
    } else if (tie) {
      // An odd multiple of half the float64 ulp of the sum (≤ 24 bits, ≤ ulp(hi)/2): an exact
      // tie. Below a power-of-two hi that ulp is half as large.
      const m = 2 * Math.floor(rnd() * 2 ** 22) + 1;
      lo = pow2 ? -sign * m * 2 ** (eh - 54) : (rnd() < 0.5 ? -1 : 1) * m * 2 ** (eh - 53);
    } else {
      // From ulp(hi)/2 down by up to 60 binades; a power-of-two hi gets the opposite sign.
      const mag = rnd() * 2 ** (eh - 24 - Math.floor(rnd() * 60));
      lo = pow2 ? -sign * mag : (rnd() < 0.5 ? -1 : 1) * mag;
    }
    out[2 * k] = hi;
    out[2 * k + 1] = lo;
  }
  return out;
}

describe.skipIf(!ctx)(`df64 self-test ${gpuLabel(ctx)}`, () => {
  afterAll(async () => {
    // Leave the context's verdict as the device's real one for anything that runs after.
    if (ctx) await df64SelfTest(ctx);
  });

  it('passes on this device', async () => {
    const report = await df64SelfTest(ctx!);
    console.info(`[batchfit] ${report.adapter}: ${report.detail}`);
    expect(report.ok, report.detail).toBe(true);
    expect(report.adapter).toBe(ctx!.describe());
    expect(report.detail).toMatch(/dot product error 2\^-\d/);
  });

  it('fails with a detail when TwoSum is broken on purpose (one2 = 0)', async () => {
    const report = await df64SelfTest(ctx!, { fault: true });
    console.info(`[batchfit] fault run: ${report.detail}`);
    expect(report.ok).toBe(false);
    expect(report.detail).toMatch(/TwoSum: \d+ of \d+ wrong/);
    expect(report.detail).toMatch(/dot product error 2\^-\d+\.\d/);
  });

  it('df64Verdict runs once per context and reflects a later fault run', async () => {
    const good = await df64SelfTest(ctx!);
    const v1 = df64Verdict(ctx!);
    expect(df64Verdict(ctx!)).toBe(v1);
    expect(await v1).toBe(good);
    const bad = await df64SelfTest(ctx!, { fault: true });
    expect(await df64Verdict(ctx!)).toBe(bad);
    expect(bad.ok).toBe(false);
  });

  it('encodeF32 and encodeDf64 are bit-exact on normalised df64 pairs', async () => {
    const pairs = normalisedPairs(4000, 17);
    // The edges by hand: f32 max + ulp/2 (beyond f32 range), a round-up into the next binade,
    // the smallest normal with lo = 0, and a tie below a power of two.
    pairs.set([f32FromBits(0x7f7fffff), 2 ** 103, Math.fround(2 - 2 ** -23), 2 ** -24, 2 ** -126, 0, 1, -(2 ** -54)]);
    const bad = mismatches(pairs, await encodePairs(pairs));
    expect(bad.slice(0, 10), `${bad.length} mismatches`).toEqual([]);
  });

  it('encodeF32 is exact and encodeDf64 correctly rounded for any f32 bit patterns (subnormals, ±0, ±inf, NaN)', async () => {
    const rnd = mulberry32(29);
    const n = 4000;
    const words = new Uint32Array(2 * n);
    // Each word: ±0, a subnormal, ±inf, a NaN (any payload), for lo also an exponent within a
    // few binades of hi's (the sum cancels or rounds), otherwise any pattern.
    const word = (near: number | undefined): number => {
      const b = Math.floor(rnd() * 2 ** 32);
      const r = rnd();
      if (r < 0.08) return b & 0x80000000;
      if (r < 0.2) return b & 0x807fffff;
      if (r < 0.26) return (b & 0x80000000) | 0x7f800000;
      if (r < 0.32) return b | 0x7f800001;
      if (near !== undefined && r < 0.66) return (b & 0x807fffff) | ((((near >>> 23) - Math.floor(rnd() * 4)) & 0xff) << 23);
      return b;
    };
    for (let k = 0; k < n; k++) {
      words[2 * k] = word(undefined);
      words[2 * k + 1] = word(words[2 * k]! & 0x7fffffff);
    }
    const pairs = new Float32Array(words.buffer);
    const bad = mismatches(pairs, await encodePairs(pairs));
    expect(bad.slice(0, 10), `${bad.length} mismatches`).toEqual([]);
  });
});
