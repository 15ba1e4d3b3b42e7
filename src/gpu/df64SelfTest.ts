/**
 * A run-time check that this device computes the double-f32 ("df64") arithmetic of
 * shaders/df64.wgsl as written. WGSL lets a compiler reassociate and does not promise a fused
 * fma (lavapipe folds an unguarded TwoSum away), so whether the error-free transforms hold is a
 * property of the driver's compiler, known only by running them. One dispatch of
 * shaders/df64_selftest.wgsl (one submission, one read-back) covers:
 *   - TwoSum on hard cases (ties, round-ups, the smaller operand first or second);
 *   - exact products through the Dekker split and `mac`;
 *   - decodeF64 of float64 words;
 *   - encodeF32 / encodeDf64 (float64 words written by the kernel);
 *   - a 479-term dot product of float64 data by mac/finishSum, as autobk_series.wgsl forms its
 *     mat-vecs.
 *
 * Pass criteria:
 *   - TwoSum and products exact (bit for bit): they are error-free transforms, and a single
 *     wrong bit means the compiler regrouped or contracted them;
 *   - decodeF64 within DECODE_TOL of the float64 value, as a normalised pair;
 *   - the encoders bit-exact against the host's float64 conversion and addition (NaN only as
 *     NaN: hosts differ in which NaN they produce): they are integer code;
 *   - the dot product within DOT_TOL of Σ|terms| of the float64 result. Measured on lavapipe
 *     (Mesa 25.0.7): 2⁻⁴⁶·⁴ with the guards intact, bit-identical to the same algorithm emulated
 *     with Math.fround; 2⁻²³·⁷ (plain f32) both with one2 = 0 (the fault option) and with every
 *     `params.one` replaced by a literal 1.0, which lavapipe folds (TwoSum's error term is then
 *     always 0 and decodeF64 loses its low half; the Dekker products stay exact).
 */
import { createStorageBuffer, createUniformBuffer, ReadbackBuffer, upload } from './buffers.js';
import type { GpuContext } from './context.js';
import { computePipeline } from './pipelines.js';
import { mulberry32 } from '../math/random.js';

export interface Df64Report {
  /** Every check passed: kernels may rely on df64 on this device. */
  ok: boolean;
  /** The adapter tested (GpuContext.describe()). */
  adapter: string;
  /** What was checked and the measured dot-product error; on failure, what failed and by how much. */
  detail: string;
}

export interface Df64SelfTestOptions {
  /**
   * Run the same kernel with the uniform one2 = 0, which drops half of TwoSum's error term
   * (b − bv): the report fails. For tests that need a device whose df64 is broken.
   */
  fault?: boolean;
}

/**
 * ~2⁶ above the ~2⁻⁴⁶ that df64 accumulation reaches (room for other data and for a device that
 * rounds the uncompensated cross terms differently, e.g. fused), far below the ~2⁻²⁴ of a
 * TwoSum that lost its error term.
 */
const DOT_TOL = 2 ** -40;
const DOT_TERMS = 479;
/**
 * decodeF64 keeps a float64's low 29 significand bits as one f32 (24 bits), so hi + lo is v to
 * within half an ulp of that f32: 2⁴ of v's 2⁵² units. Its pair must also be normalised.
 */
const DECODE_TOL = 2 ** -48;
const PARAMS_BYTES = 32;

const f32Bits = new Uint32Array(1);
const f32View = new Float32Array(f32Bits.buffer);

function bitsOf(v: number): number {
  f32View[0] = v;
  return f32Bits[0]!;
}

function fromBits(b: number): number {
  f32Bits[0] = b;
  return f32View[0]!;
}

/** Unbiased exponent of a normal f32. */
function exponentOf(v: number): number {
  return ((bitsOf(v) >>> 23) & 0xff) - 127;
}


/** An f32 with a random 24-bit significand in [2^e, 2^(e+1)] and a random sign. */
function randomF32(rnd: () => number, e: number): number {
  return Math.fround((1 + rnd()) * 2 ** e) * (rnd() < 0.5 ? -1 : 1);
}

/**
 * hi + lo = v to ~2⁻⁴⁸ relative, hi split into halves of ≤ 12 bits (as df64.wgsl's `split`),
 * into three planes at `at`, `at + plane`, `at + 2·plane`: how matrices reach df64 kernels.
 */
export function splitF64(v: number, planes: Float32Array, at: number, plane: number): void {
  const hi = Math.fround(v);
  const c = Math.fround(4097 * hi);
  const h1 = Math.fround(c - Math.fround(c - hi));
  planes[at] = h1;
  planes[at + plane] = Math.fround(hi - h1);
  planes[at + 2 * plane] = Math.fround(v - hi);
}

/** a·b = p + e exactly (Veltkamp split of float64, no fma needed). */
function twoProd(a: number, b: number): [number, number] {
  const p = a * b;
  const split = (x: number): [number, number] => {
    const c = 134217729 * x;
    const h = c - (c - x);
    return [h, x - h];
  };
  const [ah, al] = split(a);
  const [bh, bl] = split(b);
  return [p, ah * bh - p + ah * bl + al * bh + al * bl];
}

/**
 * Σ a_i·x_i in twice float64 precision (Ogita, Rump & Oishi's Dot2), so that the measured error
 * is the device's alone; also Σ|a_i·x_i|.
 */
function referenceDot(a: Float64Array, x: Float64Array): { dot: number; size: number } {
  let s = 0;
  let c = 0;
  let size = 0;
  for (let i = 0; i < a.length; i++) {
    const [p, pe] = twoProd(a[i]!, x[i]!);
    const t = s + p;
    const z = t - s;
    c += s - (t - z) + (p - z) + pe;
    s = t;
    size += Math.abs(p);
  }
  return { dot: s + c, size };
}

/** TwoSum cases; every pair's float64 sum a + b is exact (their bits span ≤ 53 places). */
function twoSumCases(rnd: () => number): number[][] {
  const u = 2 ** -23;
  const cases = [
    [1, u / 2], // tie, stays at the even 1
    [1 + u, u / 2], // tie, rounds up to the even 1 + 2u
    [1, 1.5 * (u / 2)], // rounds up, e = −u/4
    [1, (u / 2) * (1 + u)], // just above the tie, e = −(u/2)(1 − u)
    [(u / 2) * (1 + u), 1], // the same with the smaller operand first
    [-(1 + u), 1], // exact cancellation, e = 0
    [2 ** 24, -1 + u / 2], // 2²⁴ − 1 + 2⁻²⁴: e = 2⁻²⁴
    [-(2 ** 21), 0.75 - u], // opposite signs, the sum falls into the binade below
  ];
  for (let k = 0; k < 24; k++) {
    const ea = Math.floor(rnd() * 20) - 10;
    const a = randomF32(rnd, ea);
    // At most 27 binades apart: both significands within 52 places.
    const b = randomF32(rnd, ea - Math.floor(rnd() * 28));
    cases.push(k % 2 === 0 ? [a, b] : [b, a]);
  }
  return cases.map(([a, b]) => [Math.fround(a!), Math.fround(b!)]);
}

function productCases(rnd: () => number): number[][] {
  const full = Math.fround(2 - 2 ** -23); // all 24 significand bits set
  const cases = [
    [full, full],
    [-full, full * 2 ** -60],
    [Math.fround(1 + 2 ** -23), Math.fround(1 - 2 ** -24)],
    [4097, Math.fround(1 / 3)],
  ];
  for (let k = 0; k < 16; k++) cases.push([randomF32(rnd, Math.floor(rnd() * 40) - 20), randomF32(rnd, Math.floor(rnd() * 40) - 20)]);
  return cases;
}

/** float64 values within f32 range whose low halves stay normal f32 (decodeF64's domain). */
const DECODE_CASES = [Math.PI, -1 / 3, 1e10 + 0.1, 1 - 2 ** -53, 2 ** -60 * (1 + 2 ** -52), -1.23456789e-7, 1e-20, 6.02214076e23, 0];

function f32EncodeCases(rnd: () => number): number[] {
  const bits = [
    0x00000000, 0x80000000, 0x3f800000, 0xbfc00000, 0x40490fdb, 0x7f7fffff, 0xff7fffff, 0x00800000, 0x80800000,
    0x00000001, 0x80000001, 0x007fffff, 0x00012345, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00123,
  ];
  for (let k = 0; k < 15; k++) bits.push(Math.floor(rnd() * 2 ** 32));
  return bits;
}

/** (hi, lo) pairs: normalised ones around rounding boundaries, unnormalised and non-finite ones. */
function df64EncodeCases(rnd: () => number): number[][] {
  const inf = Infinity;
  const cases = [
    [1, 2 ** -53], // tie, to the even 1
    [1, 3 * 2 ** -53], // tie, to the even 1 + 2⁻⁵¹
    [1, -(2 ** -54)], // across the binade down, tie, to the even 1
    [1, -3 * 2 ** -55], // across the binade down, rounds to 1 − 2⁻⁵³
    [-1, 2 ** -70], // far below: only the sticky bit
    [1, 2 ** -53 * (1 + 2 ** -22)], // just above a tie by a bit below the kept ones: rounds up
    [1, -(2 ** -54) * (1 + 2 ** -22)], // the same below 1: rounds down to 1 − 2⁻⁵³
    [Math.fround(2 - 2 ** -23), 2 ** -24], // rounds into the next binade exactly (2)
    [fromBits(0x7f7fffff), 2 ** 103], // f32 max + ulp/2, beyond f32 range
    [fromBits(0x00800000), fromBits(0x00000001)], // unnormalised: both near the bottom
    [0, Math.fround(-1e-30)], // hi = 0
    [1, -1], // exact cancellation: +0
    [-0, -0],
    [0, -0],
    [-0, 0],
    [inf, NaN],
    [-inf, inf],
    [NaN, 0],
    [1, -inf],
  ];
  for (let k = 0; k < 32; k++) {
    const hi = randomF32(rnd, Math.floor(rnd() * 240) - 120);
    const half = 2 ** (exponentOf(hi) - 24);
    cases.push([hi, Math.fround((rnd() - 0.5) * 2 * half * 2 ** -Math.floor(rnd() * 36))]);
  }
  return cases.map(([h, l]) => [Math.fround(h!), Math.fround(l!)]);
}

/** Words (lo, hi) equal to `ref` as a float64, or any NaN if `ref` is NaN. */
function sameFloat64(lo: number, hi: number, ref: number): boolean {
  if (Number.isNaN(ref)) return (hi & 0x7ff00000) === 0x7ff00000 && ((hi & 0xfffff) !== 0 || lo !== 0);
  const w = new Uint32Array(new Float64Array([ref]).buffer);
  return w[0] === lo && w[1] === hi;
}

/** The float64 with words (lo, hi), as text that tells −0 from 0. */
function float64Text(lo: number, hi: number): string {
  return show(new Float64Array(new Uint32Array([lo, hi]).buffer)[0]!);
}

function show(v: number): string {
  return Object.is(v, -0) ? '-0' : String(v);
}

const verdicts = new WeakMap<GpuContext, Promise<Df64Report>>();

/**
 * The df64 self-test on this device (one dispatch and read-back). The run becomes the context's
 * verdict for df64Verdict: a later run replaces it, a fault run included (that is how tests
 * make a device look broken; a plain run afterwards restores the real verdict). Rejects only if
 * the kernel cannot be run (device lost, WGSL rejected); such a run is not kept as a verdict.
 */
export function df64SelfTest(ctx: GpuContext, options: Df64SelfTestOptions = {}): Promise<Df64Report> {
  const run = runSelfTest(ctx, options.fault ?? false);
  verdicts.set(ctx, run);
  run.catch(() => {
    if (verdicts.get(ctx) === run) verdicts.delete(ctx);
  });
  return run;
}

/** The context's df64 verdict: the latest df64SelfTest run on it, the first call running one. */
export function df64Verdict(ctx: GpuContext): Promise<Df64Report> {
  return verdicts.get(ctx) ?? df64SelfTest(ctx);
}

async function runSelfTest(ctx: GpuContext, fault: boolean): Promise<Df64Report> {
  // The same cases on every run.
  const rnd = mulberry32(0x64f64);
  const sums = twoSumCases(rnd);
  const prods = productCases(rnd);
  const f32s = f32EncodeCases(rnd);
  const pairs = df64EncodeCases(rnd);
  const n = DOT_TERMS;
  // Float64 data with full 53-bit significands (two draws: one has 32 bits) over a few binades,
  // both signs, so that the sum cancels.
  const draw = (): number => (rnd() - 0.5 + rnd() * 2 ** -32) * 2 ** Math.floor(rnd() * 12 - 6);
  const a = Float64Array.from({ length: n }, draw);
  const x = Float64Array.from({ length: n }, draw);

  const inWords = 2 * sums.length + 2 * prods.length + 2 * DECODE_CASES.length + f32s.length + 2 * pairs.length + 5 * n;
  const input = new ArrayBuffer(inWords * 4);
  const inU = new Uint32Array(input);
  const inF = new Float32Array(input);
  let i = 0;
  for (const [p, q] of [...sums, ...prods]) {
    inF[i++] = p!;
    inF[i++] = q!;
  }
  inU.set(new Uint32Array(Float64Array.from(DECODE_CASES).buffer), i);
  i += 2 * DECODE_CASES.length;
  inU.set(f32s, i);
  i += f32s.length;
  for (const [h, l] of pairs) {
    inF[i++] = h!;
    inF[i++] = l!;
  }
  const planes = inF.subarray(i, i + 3 * n);
  for (let k = 0; k < n; k++) splitF64(a[k]!, planes, k, n);
  inU.set(new Uint32Array(x.buffer), i + 3 * n);

  const outWords = 2 * (sums.length + prods.length + DECODE_CASES.length + f32s.length + pairs.length) + 4;
  const params = new ArrayBuffer(PARAMS_BYTES);
  // one = 1 always; one2 = 0 is the fault: TwoSum's error term (da + db·one2) loses db.
  new Float32Array(params, 0, 2).set([1, fault ? 0 : 1]);
  new Uint32Array(params, 8, 6).set([sums.length, prods.length, DECODE_CASES.length, f32s.length, pairs.length, n]);

  const pipeline = await computePipeline(ctx, 'df64_selftest', 'selftest');
  const uniform = createUniformBuffer(ctx, 'df64 self-test params', PARAMS_BYTES);
  const inBuf = createStorageBuffer(ctx, 'df64 self-test input', inWords * 4);
  const outBuf = createStorageBuffer(ctx, 'df64 self-test results', outWords * 4);
  const readback = new ReadbackBuffer(ctx, 'df64 self-test read-back', outWords * 4);
  const out = new ArrayBuffer(outWords * 4);
  try {
    upload(ctx, uniform, new Uint32Array(params));
    upload(ctx, inBuf, inU);
    const bind = ctx.device.createBindGroup({
      label: 'df64 self-test',
      layout: pipeline.getBindGroupLayout(0),
      entries: [uniform, inBuf, outBuf].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    ctx.submit((enc) => {
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(1);
      pass.end();
      readback.copyFrom(enc, outBuf, outWords * 4);
    });
    await readback.read(new Uint32Array(out));
  } finally {
    for (const b of [uniform, inBuf, outBuf]) b.destroy();
    readback.destroy();
  }

  const outU = new Uint32Array(out);
  const outF = new Float32Array(out);
  const failures: string[] = [];
  const passed: string[] = [];
  let o = 0;
  /** Counts the cases of one section (two result words each); names the first wrong one. */
  const section = (name: string, count: number, check: (k: number, at: number) => string | undefined): void => {
    let wrong = 0;
    let first: string | undefined;
    for (let k = 0; k < count; k++) {
      const why = check(k, o + 2 * k);
      if (why !== undefined) {
        wrong++;
        first ??= why;
      }
    }
    o += 2 * count;
    if (wrong === 0) passed.push(`${name} ${count}/${count}`);
    else failures.push(`${name}: ${wrong} of ${count} wrong, e.g. ${first}`);
  };

  section('TwoSum', sums.length, (k, at) => {
    const [p, q] = sums[k] as [number, number];
    const s = Math.fround(p + q);
    const e = p + q - s;
    const [gs, ge] = [outF[at]!, outF[at + 1]!];
    return gs === s && ge === e ? undefined : `twoSum(${p}, ${q}) = (${gs}, ${ge}), exact (${s}, ${e})`;
  });
  section('products', prods.length, (k, at) => {
    const [p, q] = prods[k] as [number, number];
    const [gp, ge] = [outF[at]!, outF[at + 1]!];
    return gp === Math.fround(p * q) && gp + ge === p * q ? undefined : `${p}·${q} = ${gp} + ${ge}, exact ${p * q}`;
  });
  section('decodeF64', DECODE_CASES.length, (k, at) => {
    const v = DECODE_CASES[k]!;
    const [gh, gl] = [outF[at]!, outF[at + 1]!];
    const good =
      v === 0 ? gh === 0 && gl === 0 : Math.abs(gh + gl - v) <= DECODE_TOL * Math.abs(v) && Math.abs(gl) <= 2 ** (exponentOf(gh) - 24);
    return good ? undefined : `decodeF64(${v}) = ${gh} + ${gl}`;
  });
  section('encodeF32', f32s.length, (k, at) => {
    const v = fromBits(f32s[k]!);
    return sameFloat64(outU[at]!, outU[at + 1]!, v) ? undefined : `encodeF32(${show(v)}) = ${float64Text(outU[at]!, outU[at + 1]!)}`;
  });
  section('encodeDf64', pairs.length, (k, at) => {
    const [h, l] = pairs[k] as [number, number];
    const ref = Number.isFinite(h) ? h + l : h;
    return sameFloat64(outU[at]!, outU[at + 1]!, ref)
      ? undefined
      : `encodeDf64(${show(h)}, ${show(l)}) = ${float64Text(outU[at]!, outU[at + 1]!)}, expected ${show(ref)}`;
  });

  const { dot, size } = referenceDot(a, x);
  const got = outF[o]! + outF[o + 1]!;
  const rel = Math.abs(got - dot) / size;
  // Reported as log2 of the relative error; −Infinity (exact) prints as such.
  const dotText = `${n}-term dot product error 2^${Math.log2(rel).toFixed(1)} of Σ|terms| (limit 2^${Math.log2(DOT_TOL)})`;
  if (!(rel <= DOT_TOL)) failures.push(dotText);
  if (!sameFloat64(outU[o + 2]!, outU[o + 3]!, got)) {
    failures.push(`encodeDf64 of the dot product (${outF[o]}, ${outF[o + 1]}) = ${float64Text(outU[o + 2]!, outU[o + 3]!)}`);
  }

  const ok = failures.length === 0;
  let detail: string;
  if (ok) {
    detail = `df64 ok: ${passed.join(', ')}; ${dotText}`;
  } else {
    // What failed first, then what passed (with the dot product's error when it passed).
    const good = rel <= DOT_TOL ? [...passed, dotText] : passed;
    detail = `df64 FAILED${fault ? ' (fault injected: one2 = 0)' : ''}: ${failures.join('; ')}${good.length > 0 ? `; passed: ${good.join(', ')}` : ''}`;
  }
  return { ok, adapter: ctx.describe(), detail };
}
