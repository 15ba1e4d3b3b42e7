// Device self-test of df64.wgsl: src/gpu/df64SelfTest.ts packs the cases, this kernel runs
// them with the same functions (and the same uniform guards) the df64 kernels use, and the host
// compares the words it writes with float64 references. The kernel only computes: whether a
// result is right is decided on the host, so that the judgement itself cannot be miscompiled.
//
// Entry points:
//   selftest      one invocation works through the sections below in order
//   encode_pairs  encodeF32/encodeDf64/isFiniteBits of (hi, lo) pairs, one pair per invocation
//                 (tests check the encoders on many inputs with it)
//
// Bindings (group 0):
//   0 params  uniform Params: `one`, `one2` as df64.wgsl needs them (1.0; the host sets one2 = 0
//             to break TwoSum on purpose), then the section sizes
//   1 inp     storage read, array<u32>: f32 values as bits, float64 values as word pairs
//   2 res     storage read_write, array<u32>: f32 results as bits, float64 results as word pairs
//
// selftest sections (input words → output words, in this order):
//   nSum    (a, b)               → twoSum(a, b)                          (s, e)
//   nProd   (a, b)               → mac(0, split(a), split(b))            (p, pe), p + pe = a·b
//   nDecode float64 (lo, hi)     → decodeF64                             (hi, lo)
//   nF32    v                    → encodeF32(v)                          float64
//   nDf64   (hi, lo)             → encodeDf64(hi, lo)                    float64
//   nDot    three planes of nDot f32 (hi1, hi2, lo of a, split on the host), then nDot float64
//           x (decoded and split here)  → Σ a·x by mac/finishSum: (hi, lo), then encodeDf64 of it

struct Params {
  one: f32,
  one2: f32,
  nSum: u32,
  nProd: u32,
  nDecode: u32,
  nF32: u32,
  nDf64: u32,
  nDot: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> inp: array<u32>;
@group(0) @binding(2) var<storage, read_write> res: array<u32>;

//! include "df64.wgsl"

fn inF32(i: u32) -> f32 {
  return bitcast<f32>(inp[i]);
}

fn putWords(o: u32, v: vec2<u32>) {
  res[o] = v.x;
  res[o + 1u] = v.y;
}

fn putPair(o: u32, v: vec2<f32>) {
  putWords(o, bitcast<vec2<u32>>(v));
}

@compute @workgroup_size(1)
fn selftest() {
  var i = 0u;
  var o = 0u;
  for (var k = 0u; k < params.nSum; k++) {
    putPair(o, twoSum(inF32(i), inF32(i + 1u)));
    i += 2u;
    o += 2u;
  }
  for (var k = 0u; k < params.nProd; k++) {
    let a = split(inF32(i));
    let b = split(inF32(i + 1u));
    putPair(o, mac(vec2<f32>(0.0, 0.0), a.x, a.y, 0.0, b.x, b.y, 0.0));
    i += 2u;
    o += 2u;
  }
  for (var k = 0u; k < params.nDecode; k++) {
    putPair(o, decodeF64(inp[i], inp[i + 1u]));
    i += 2u;
    o += 2u;
  }
  for (var k = 0u; k < params.nF32; k++) {
    putWords(o, encodeF32(inF32(i)));
    i += 1u;
    o += 2u;
  }
  for (var k = 0u; k < params.nDf64; k++) {
    putWords(o, encodeDf64(vec2<f32>(inF32(i), inF32(i + 1u))));
    i += 2u;
    o += 2u;
  }
  // The dot product as autobk_series.wgsl forms its mat-vecs.
  let n = params.nDot;
  let xw = i + 3u * n;
  var acc = vec2<f32>(0.0, 0.0);
  for (var k = 0u; k < n; k++) {
    let x = decodeF64(inp[xw + 2u * k], inp[xw + 2u * k + 1u]);
    let h = split(x.x);
    acc = mac(acc, inF32(i + k), inF32(i + n + k), inF32(i + 2u * n + k), h.x, h.y, x.y);
  }
  let v = finishSum(acc);
  putPair(o, v);
  putWords(o + 2u, encodeDf64(v));
}

// Pair k = (inp[2k], inp[2k + 1]) → res[8k..8k + 7]: encodeF32(hi), encodeF32(lo),
// encodeDf64(hi, lo), isFiniteBits(hi), isFiniteBits(lo) (1 or 0). Pairs: arrayLength(inp)/2.
@compute @workgroup_size(64)
fn encode_pairs(@builtin(global_invocation_id) gid: vec3<u32>) {
  let k = gid.x;
  if (k >= arrayLength(&inp) / 2u) {
    return;
  }
  let hi = inF32(2u * k);
  let lo = inF32(2u * k + 1u);
  putWords(8u * k, encodeF32(hi));
  putWords(8u * k + 2u, encodeF32(lo));
  putWords(8u * k + 4u, encodeDf64(vec2<f32>(hi, lo)));
  res[8u * k + 6u] = select(0u, 1u, isFiniteBits(hi));
  res[8u * k + 7u] = select(0u, 1u, isFiniteBits(lo));
}
