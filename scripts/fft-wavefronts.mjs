#!/usr/bin/env node
// Workgroup-memory wavefronts per column of the batched FFT kernel (shaders/fft.wgsl), before
// and after the rewrite of issue 11, from each kernel's access pattern.
//
// The model runs both kernels, invocation by invocation, on one column: every workgroup-memory
// load and store, and every twiddle read, goes through a recorder with its element index and a
// key naming the dynamic instruction (static instruction plus loop iteration). Invocations are
// grouped into warps of 32; the accesses of one warp with one key form a warp-instruction, and
// each is charged what the hardware serialises it into:
//   workgroup memory: 32 banks of 4 bytes. A warp access of w-word elements (vec2: w = 2,
//     vec4: w = 4) is split into 128-byte transactions of 32/w consecutive lanes; each costs
//     the largest number of distinct 4-byte words any one bank is asked for (so a vec2 warp
//     access costs at least 2 wavefronts, a vec4 one at least 4).
//   twiddles from a storage buffer: the distinct 128-byte L1 lines the warp touches.
// Global loads of the input and stores of the spectrum are not counted (the same in both).
// The kernels compute with the values they move (float64 here), so a wrong index in the model
// gives a wrong spectrum: each run is checked against a direct DFT, with invocations run in
// both orders between barriers.
//
// The new kernel's plan (passes, workgroup size, twiddle table layout) follows the same rules as
// fftKernelPlan / fftTwiddles in src/gpu/fft.ts; test/gpu/fftModel.test.ts holds the two equal.
//
// Usage: node scripts/fft-wavefronts.mjs [--n 2048] [--wg 256] [--nout 1025]
//   --n    transform size (real points), a power of two ≥ 256
//   --wg   workgroup size of the old kernel (default min(256, n/4), the size src/gpu/fft.ts
//          gave it); the new kernel's workgroup is fixed by n: n/32 invocations of 16 points
//   --nout bins written per column (default all, n/2 + 1)
import { pathToFileURL } from 'node:url';

const WARP = 32;
const BANKS = 32;
const LINE_BYTES = 128;

/** Pass structure of the new kernel for n real points (mirrors fftKernelPlan in src/gpu/fft.ts). */
export function newPlan(n) {
  checkSize(n);
  const m = n / 2;
  const log2m = Math.log2(m);
  // One radix-2^b pass first (b = log2m mod 4, or 4), then radix-16 passes.
  const firstStages = log2m % 4 === 0 ? 4 : log2m % 4;
  const firstRadix = 1 << firstStages;
  const radix16Passes = (log2m - firstStages) / 4;
  const passes = [];
  let offset = 0;
  let ns = firstRadix;
  for (let p = 0; p < radix16Passes; p++) {
    passes.push({ ns, twiddleOffset: offset });
    offset += roundUp16(15 * ns);
    ns *= 16;
  }
  return {
    n,
    log2m,
    workgroupSize: m / 16,
    firstRadix,
    radix16Passes,
    passTwiddleOffsets: passes.map((p) => p.twiddleOffset),
    splitTwiddleOffset: offset,
    twiddleEntries: offset + m / 2 + 1,
    workgroupBytes: m * 8,
    passes,
  };
}

/**
 * The new kernel's twiddle table as float64 (cos, sin) pairs: per radix-16 pass with stride Ns,
 * W_{16·Ns}^{r·k} at offset + (r−1)·Ns + k (r = 1..15, k < Ns), each pass's block starting on a
 * 128-byte line; then W_n^k for k = 0..n/4 for the real-signal split.
 */
export function newTwiddles(n) {
  const plan = newPlan(n);
  const tw = new Float64Array(2 * plan.twiddleEntries);
  const put = (i, num, den) => {
    tw[2 * i] = Math.cos((-2 * Math.PI * num) / den);
    tw[2 * i + 1] = Math.sin((-2 * Math.PI * num) / den);
  };
  for (const { ns, twiddleOffset } of plan.passes) {
    for (let r = 1; r < 16; r++) for (let k = 0; k < ns; k++) put(twiddleOffset + (r - 1) * ns + k, r * k, 16 * ns);
  }
  for (let k = 0; k <= n / 4; k++) put(plan.splitTwiddleOffset + k, k, n);
  return tw;
}

function checkSize(n) {
  if (!Number.isInteger(n) || n < 256 || (n & (n - 1)) !== 0) throw new RangeError(`n must be a power of two ≥ 256, got ${n}`);
}

function roundUp16(x) {
  return Math.ceil(x / 16) * 16;
}

function bitReverse(x, bits) {
  let r = 0;
  for (let i = 0; i < bits; i++) r |= ((x >> i) & 1) << (bits - 1 - i);
  return r;
}

/**
 * One workgroup on one column. `phases` are the code between barriers, each called once per
 * invocation (lid, its private registers); `mem` records the accesses and holds the values.
 */
function runWorkgroup(wg, phases, mem, reverse) {
  const regs = Array.from({ length: wg }, () => ({}));
  for (const phase of phases) {
    for (let i = 0; i < wg; i++) {
      const lid = reverse ? wg - 1 - i : i;
      mem.lid = lid;
      phase(lid, regs[lid]);
    }
  }
}

/** Workgroup memory of complex f64 values and a twiddle buffer, recording every access. */
class Recorder {
  constructor(words, twiddles) {
    this.z = new Float64Array(words);
    this.tw = twiddles;
    this.lid = 0;
    this.groups = new Map();
  }
  record(space, key, elementIndex, words) {
    const warp = Math.floor(this.lid / WARP);
    const id = `${space}|${key}|${warp}`;
    let g = this.groups.get(id);
    if (g === undefined) {
      g = { space, words, lanes: [] };
      this.groups.set(id, g);
    }
    g.lanes.push({ lane: this.lid % WARP, word: elementIndex * words });
  }
  /** vec2<f32> load from workgroup memory. */
  load(key, i) {
    this.record('wgLoad', key, i, 2);
    return [this.z[2 * i], this.z[2 * i + 1]];
  }
  store(key, i, v) {
    this.record('wgStore', key, i, 2);
    this.z[2 * i] = v[0];
    this.z[2 * i + 1] = v[1];
  }
  /** vec2<f32> twiddle from the storage buffer. */
  twiddle(key, i) {
    this.record('twiddle', key, i, 2);
    return [this.tw[2 * i], this.tw[2 * i + 1]];
  }
  count() {
    const out = { workgroupLoads: 0, workgroupStores: 0, twiddleL1: 0, warpInstructions: 0, conflictedInstructions: 0 };
    for (const g of this.groups.values()) {
      out.warpInstructions++;
      if (g.space === 'twiddle') {
        const lines = new Set(g.lanes.map((l) => Math.floor((l.word * 4) / LINE_BYTES)));
        out.twiddleL1 += lines.size;
        continue;
      }
      const lanesPerTransaction = WARP / g.words;
      const transactions = new Map();
      for (const l of g.lanes) {
        const t = Math.floor(l.lane / lanesPerTransaction);
        let banks = transactions.get(t);
        if (banks === undefined) transactions.set(t, (banks = new Map()));
        for (let w = l.word; w < l.word + g.words; w++) {
          const b = w % BANKS;
          if (!banks.has(b)) banks.set(b, new Set());
          banks.get(b).add(w);
        }
      }
      let wavefronts = 0;
      for (const banks of transactions.values()) wavefronts += Math.max(...[...banks.values()].map((s) => s.size));
      if (wavefronts > transactions.size) out.conflictedInstructions++;
      if (g.space === 'wgLoad') out.workgroupLoads += wavefronts;
      else out.workgroupStores += wavefronts;
    }
    return out;
  }
}

function cmul(a, b) {
  return [a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]];
}

const add = (a, b) => [a[0] + b[0], a[1] + b[1]];
const sub = (a, b) => [a[0] - b[0], a[1] - b[1]];

/** The real-signal split shared by both kernels' final step: X[k] and X[M−k] from Z[k], Z[M−k]. */
function splitBins(a, c, w) {
  const e = [0.5 * (a[0] + c[0]), 0.5 * (a[1] - c[1])];
  const o = [0.5 * (a[1] + c[1]), 0.5 * (c[0] - a[0])];
  const wo = cmul(w, o);
  return [add(e, wo), [e[0] - wo[0], wo[1] - e[1]]];
}

function sampleAt(x, j) {
  return j < x.length ? x[j] : 0;
}

/** The kernel before issue 11: bit-reversed load, radix-4 (and one radix-2) passes in place. */
function oldKernel(n, wg, nOut, x, reverse) {
  const m = n / 2;
  const log2m = Math.log2(m);
  const tw = new Float64Array(2 * n);
  for (let j = 0; j < n; j++) {
    tw[2 * j] = Math.cos((-2 * Math.PI * j) / n);
    tw[2 * j + 1] = Math.sin((-2 * Math.PI * j) / n);
  }
  const mem = new Recorder(2 * m, tw);
  const out = new Float64Array(2 * nOut);
  const phases = [];
  phases.push((lid) => {
    for (let j = lid, it = 0; j < m; j += wg, it++) {
      mem.store(`load#${it}`, bitReverse(j, log2m), [sampleAt(x, 2 * j), sampleAt(x, 2 * j + 1)]);
    }
  });
  let q = 1;
  if (log2m % 2 === 1) {
    phases.push((lid) => {
      for (let b = lid, it = 0; b < m / 2; b += wg, it++) {
        const a0 = mem.load(`r2.a0#${it}`, 2 * b);
        const a1 = mem.load(`r2.a1#${it}`, 2 * b + 1);
        mem.store(`r2.s0#${it}`, 2 * b, add(a0, a1));
        mem.store(`r2.s1#${it}`, 2 * b + 1, sub(a0, a1));
      }
    });
    q = 2;
  }
  for (let pass = 0; q < m; q *= 4, pass++) {
    const qq = q;
    phases.push((lid) => {
      const stride = 2 * (m / (4 * qq));
      for (let b = lid, it = 0; b < m / 4; b += wg, it++) {
        const key = (s) => `r4.${pass}.${s}#${it}`;
        const k = b % qq;
        const i0 = Math.floor(b / qq) * 4 * qq + k;
        const [i1, i2, i3] = [i0 + qq, i0 + 2 * qq, i0 + 3 * qq];
        const b0 = mem.load(key('z0'), i0);
        const b1 = cmul(mem.load(key('z1'), i1), mem.twiddle(key('w1'), 2 * k * stride));
        const b2 = cmul(mem.load(key('z2'), i2), mem.twiddle(key('w2'), k * stride));
        const b3 = cmul(mem.load(key('z3'), i3), mem.twiddle(key('w3'), 3 * k * stride));
        const s = add(b0, b1);
        const d = sub(b0, b1);
        const p = add(b2, b3);
        const mm = [b2[1] - b3[1], b3[0] - b2[0]];
        mem.store(key('s0'), i0, add(s, p));
        mem.store(key('s1'), i1, add(d, mm));
        mem.store(key('s2'), i2, sub(s, p));
        mem.store(key('s3'), i3, sub(d, mm));
      }
    });
  }
  phases.push((lid) => {
    for (let k = lid, it = 0; k < nOut; k += wg, it++) {
      let v;
      if (k === 0) {
        const z0 = mem.load(`split.k0#${it}`, 0);
        v = [z0[0] + z0[1], 0];
      } else if (k === m) {
        const z0 = mem.load(`split.kM#${it}`, 0);
        v = [z0[0] - z0[1], 0];
      } else {
        const a = mem.load(`split.a#${it}`, k);
        const c = mem.load(`split.c#${it}`, m - k);
        v = splitBins(a, c, mem.twiddle(`split.w#${it}`, k))[0];
      }
      out[2 * k] = v[0];
      out[2 * k + 1] = v[1];
    }
  });
  runWorkgroup(wg, phases, mem, reverse);
  return { out, counts: mem.count() };
}

// (cos, sin)(−2πm/16), the twiddles inside a radix-16 butterfly.
const W16 = Array.from({ length: 8 }, (_, m) => [Math.cos((-2 * Math.PI * m) / 16), Math.sin((-2 * Math.PI * m) / 16)]);

/** `stages` radix-2 DIT stages over 16 registers (blocks of 2^stages, inputs bit-reversed). */
function dit(v, stages) {
  for (let s = 0; s < stages; s++) {
    const h = 1 << s;
    for (let i = 0; i < 8; i++) {
      const mIdx = i & (h - 1);
      const a = ((i >> s) << (s + 1)) | mIdx;
      const t = cmul(v[a + h], W16[mIdx * (8 >> s)]);
      const xa = v[a];
      v[a] = add(xa, t);
      v[a + h] = sub(xa, t);
    }
  }
}

/** Row-wise XOR swizzle of workgroup memory: element a lives at a ^ ((a >> 4) & 15). */
function swizzle(a) {
  return a ^ ((a >> 4) & 15);
}

/** The kernel of issue 11: Stockham radix-2^b then radix-16 passes in registers. */
function newKernel(n, nOut, x, reverse) {
  const plan = newPlan(n);
  const m = n / 2;
  const wg = plan.workgroupSize;
  const r0 = plan.firstRadix;
  const b0 = Math.log2(r0);
  const u0 = 16 / r0;
  const mem = new Recorder(2 * m, newTwiddles(n));
  const out = new Float64Array(2 * nOut);
  const phases = [];
  const last = plan.radix16Passes - 1;
  phases.push((lid, reg) => {
    const v = new Array(16);
    for (let s = 0; s < 16; s++) {
      const u = s % u0;
      const r = Math.floor(s / u0);
      const j = lid + wg * s;
      v[u * r0 + bitReverse(r, b0)] = [sampleAt(x, 2 * j), sampleAt(x, 2 * j + 1)];
    }
    dit(v, b0);
    for (let u = 0; u < u0; u++) {
      for (let k = 0; k < r0; k++) mem.store(`p0.store.${u}.${k}`, swizzle(r0 * (lid + wg * u) + k), v[u * r0 + k]);
    }
    reg.v = v;
  });
  plan.passes.forEach(({ ns, twiddleOffset }, p) => {
    phases.push((lid, reg) => {
      const k = lid & (ns - 1);
      for (let r = 0; r < 16; r++) {
        let z = mem.load(`p${p + 1}.load.${r}`, swizzle(lid + wg * r));
        if (r > 0) z = cmul(z, mem.twiddle(`p${p + 1}.tw.${r}`, twiddleOffset + (r - 1) * ns + k));
        reg.v[bitReverse(r, 4)] = z;
      }
    });
    phases.push((lid, reg) => {
      dit(reg.v, 4);
      const base = Math.floor(lid / ns) * 16 * ns + (lid & (ns - 1));
      for (let q = 0; q < 16; q++) {
        const a = base + ns * q;
        mem.store(`p${p + 1}.store.${q}`, p === last ? a : swizzle(a), reg.v[q]);
      }
    });
  });
  phases.push((lid) => {
    const kEnd = Math.min(nOut, m / 2 + 1);
    for (let k = lid, it = 0; k < kEnd; k += wg, it++) {
      const a = mem.load(`split.a#${it}`, k);
      const c = mem.load(`split.c#${it}`, (m - k) & (m - 1));
      const [xk, xmk] = splitBins(a, c, mem.twiddle(`split.w#${it}`, plan.splitTwiddleOffset + k));
      out[2 * k] = xk[0];
      out[2 * k + 1] = xk[1];
      if (m - k < nOut && m - k !== k) {
        out[2 * (m - k)] = xmk[0];
        out[2 * (m - k) + 1] = xmk[1];
      }
    }
  });
  runWorkgroup(wg, phases, mem, reverse);
  return { out, counts: mem.count(), plan };
}

/** Largest |kernel − direct DFT| over the bins, relative to max |X|. */
function relativeError(out, x, n, nOut) {
  const cos = Float64Array.from({ length: n }, (_, j) => Math.cos((-2 * Math.PI * j) / n));
  const sin = Float64Array.from({ length: n }, (_, j) => Math.sin((-2 * Math.PI * j) / n));
  let err = 0;
  let scale = 0;
  for (let k = 0; k < nOut; k++) {
    let re = 0;
    let im = 0;
    for (let j = 0; j < x.length; j++) {
      const a = (k * j) % n;
      re += x[j] * cos[a];
      im += x[j] * sin[a];
    }
    scale = Math.max(scale, Math.hypot(re, im));
    err = Math.max(err, Math.abs(out[2 * k] - re), Math.abs(out[2 * k + 1] - im));
  }
  return err / scale;
}

function testColumn(n) {
  let s = 12345;
  return Float64Array.from({ length: n }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

/** Both kernels on one column of n points: modelled wavefronts and the check of their output. */
export function model(n, options = {}) {
  checkSize(n);
  const nOut = options.nOut ?? n / 2 + 1;
  const oldWg = options.wg ?? Math.min(256, n / 4);
  if (!Number.isInteger(nOut) || nOut < 1 || nOut > n / 2 + 1) throw new RangeError(`nOut must be in 1..${n / 2 + 1}, got ${nOut}`);
  if (!Number.isInteger(oldWg) || oldWg < 1) throw new RangeError(`wg must be a positive integer, got ${oldWg}`);
  const x = testColumn(n);
  const summary = (forward, backward) => {
    const c = forward.counts;
    return {
      wavefronts: c.workgroupLoads + c.workgroupStores + c.twiddleL1,
      workgroupLoads: c.workgroupLoads,
      workgroupStores: c.workgroupStores,
      twiddleL1: c.twiddleL1,
      warpInstructions: c.warpInstructions,
      conflictedInstructions: c.conflictedInstructions,
      maxRelError: Math.max(relativeError(forward.out, x, n, nOut), relativeError(backward.out, x, n, nOut)),
    };
  };
  const oldF = oldKernel(n, oldWg, nOut, x, false);
  const newF = newKernel(n, nOut, x, false);
  const { passes: _passes, ...plan } = newF.plan;
  const result = {
    n,
    nOut,
    old: { workgroupSize: oldWg, twiddles: 'storage, (cos, sin)(−2πj/n) for j < n', ...summary(oldF, oldKernel(n, oldWg, nOut, x, true)) },
    new: { ...plan, twiddles: 'storage, pass-major table', ...summary(newF, newKernel(n, nOut, x, true)) },
  };
  return { ...result, ratio: +(result.old.wavefronts / result.new.wavefronts).toFixed(2) };
}

function parseArgs(argv) {
  const opts = { n: 2048 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = Number(argv[++i]);
    if (flag === '--n') opts.n = value;
    else if (flag === '--wg') opts.wg = value;
    else if (flag === '--nout') opts.nOut = value;
    else throw new Error(`unknown option ${flag} (options: --n, --wg, --nout)`);
  }
  return opts;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const { n, ...rest } = parseArgs(process.argv.slice(2));
    console.log(JSON.stringify(model(n, rest), null, 2));
  } catch (e) {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  }
}
