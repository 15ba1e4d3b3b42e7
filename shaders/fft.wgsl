// Batched forward real-to-complex FFT, one workgroup per column.
//
// A real column of n samples is transformed as M = n/2 complex points z[j] = x[2j] + i·x[2j+1]
// by a Stockham autosort FFT (no bit reversal), then split into the bins X[k] of the real
// signal. Only the first nOut bins are written (AUTOBK keeps ~30-50 of 1025).
//
// Each of the WG = M/16 invocations holds 16 points in registers through every pass:
//   pass 0     radix R0 = 2^FIRST_STAGES (2, 4, 8 or 16; 16/R0 butterflies per invocation),
//              read straight from the column in global memory, no twiddles;
//   passes 1…  radix 16, one butterfly per invocation, params.passes of them.
// Butterfly j of a pass with stride Ns (the product of the radices before it) takes its input r
// from point j + (M/R)·r, multiplies it by W_{R·Ns}^{r·(j mod Ns)}, runs the R-point DFT as
// radix-2 stages in registers and writes output q to (j/Ns)·R·Ns + (j mod Ns) + Ns·q; after the
// last pass the points are in natural order. Workgroup memory holds the M points once: a pass
// reads all its inputs, then a barrier, then it writes in place.
//
// Banks: pass 0 writes with stride R0 and pass 1 (when Ns < 16) in short runs, which would put
// up to 16 points of a half-warp's vec2 access in one bank pair. Every exchange but the last
// therefore keeps point a at a ^ ((a >> 4) & 15), a swizzle within each 128-byte row of 16
// points: it spreads those writes over all banks and leaves the reads (16 consecutive points of
// one row) conflict-free. The last pass writes runs of 16 consecutive points unswizzled, so the
// split's reads z[k] and the mirrored z[M−k], which straddle rows, are conflict-free as well.
// scripts/fft-wavefronts.mjs models these accesses (509 wavefronts per 2048-point column,
// against 3 962 for the bit-reversed radix-4 kernel this replaced).
//
// Override constants:
//   LOG2_M   log2(n/2); n = 2^(LOG2_M+1), from 256 up to what workgroup memory holds (8·n/2
//            bytes: n = 4096 needs 16 KiB) and WG = n/32 invocations allow
//   (M, FIRST_STAGES and WG follow from LOG2_M and are not to be set.)
//
// Bindings (group 0):
//   0 params    uniform Params (below); one per chunk of columns
//   1 columns   storage read, array<f32>: sample j of column c (relative to this chunk's
//               binding) at columns[c * inputStride + j] for j < inputLength; samples
//               inputLength..n-1 are taken as zero (zero padding without storing it)
//   2 spectrum  storage read_write, array<vec2<f32>>: bin k of column c at
//               spectrum[c * nOut + k], k < nOut <= n/2 + 1, as (re, im)
//   3 twiddles  storage read, array<vec2<f32>>, pass-major so that each read of a pass takes
//               consecutive entries across invocations (fftTwiddles in src/gpu/fft.ts):
//               radix-16 pass p (stride Ns) at off_p: W_{16·Ns}^{r·k} at off_p + (r−1)·Ns + k
//               for r = 1..15, k < Ns; off_1 = 0, off_{p+1} = off_p + 15·Ns rounded up to 16
//               entries (a 128-byte line); then the split's W_n^k, k = 0..n/4, at the next such
//               offset. (cos, sin) computed in float64 on the CPU and rounded once to f32 (the
//               main error source of an f32 FFT is inaccurate twiddles).
//
// Dispatch: workgroup grid (gridX, gridY) with gridX·gridY >= columns; the column of a
// workgroup is id.x + id.y * gridX (grids beyond 65 535 workgroups use y).

struct Params {
  columns: u32,
  nOut: u32,
  inputStride: u32,
  inputLength: u32,
  gridX: u32,
  // Radix-16 passes, (LOG2_M − FIRST_STAGES)/4: a run-time bound, so that lavapipe's LLVM does
  // not unroll the pass loop around its barriers (slow cold compiles).
  passes: u32,
}

override LOG2_M: u32;
override M: u32 = 1u << LOG2_M;
override FIRST_STAGES: u32 = (LOG2_M + 3u) % 4u + 1u;
override WG: u32 = M / 16u;

// (cos, sin)(−2πm/16): the twiddles inside a 16-point DFT.
const W16 = array<vec2<f32>, 8>(
  vec2<f32>(1.0, 0.0),
  vec2<f32>(0.923879533, -0.382683432),
  vec2<f32>(0.707106781, -0.707106781),
  vec2<f32>(0.382683432, -0.923879533),
  vec2<f32>(0.0, -1.0),
  vec2<f32>(-0.382683432, -0.923879533),
  vec2<f32>(-0.707106781, -0.707106781),
  vec2<f32>(-0.923879533, -0.382683432),
);

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> columns: array<f32>;
@group(0) @binding(2) var<storage, read_write> spectrum: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> twiddles: array<vec2<f32>>;

var<workgroup> z: array<vec2<f32>, M>;

fn cmul(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  return vec2<f32>(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}

fn sample(base: u32, j: u32) -> f32 {
  if (j < params.inputLength) {
    return columns[base + j];
  }
  return 0.0;
}

// Where point a lives in workgroup memory in every exchange but the last.
fn swizzle(a: u32) -> u32 {
  return a ^ ((a >> 4u) & 15u);
}

// x·W16^e, exact for e = 0 (1) and e = 4 (−i).
fn rotate16(x: vec2<f32>, e: u32) -> vec2<f32> {
  if (e == 0u) {
    return x;
  }
  if (e == 4u) {
    return vec2<f32>(x.y, -x.x);
  }
  return cmul(x, W16[e]);
}

// Radix-2 decimation-in-time stage s (half-span 2^s) over the 16 registers. Stages 0..b−1 turn
// each aligned block of 2^b registers that holds a butterfly's inputs in bit-reversed order into
// its DFT in natural order. Called with constant s; the compiler unrolls the constant loop so
// that v stays in registers (with a loop over s as well, lavapipe's cold compile took ~40 %
// longer).
fn stage(v: ptr<function, array<vec2<f32>, 16>>, s: u32) {
  let h = 1u << s;
  for (var i = 0u; i < 8u; i++) {
    let m = i & (h - 1u);
    let a = ((i >> s) << (s + 1u)) | m;
    let t = rotate16((*v)[a + h], m << (3u - s));
    let x = (*v)[a];
    (*v)[a] = x + t;
    (*v)[a + h] = x - t;
  }
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let col = wid.x + wid.y * params.gridX;
  if (col >= params.columns) {
    return;
  }
  let base = col * params.inputStride;
  var v: array<vec2<f32>, 16>;

  // Pass 0, butterflies lid + WG·u (u < U = 16/R0): input r of butterfly u is point
  // lid + WG·(u + U·r); it goes to register u·R0 + bitreverse(r), and output q comes out of
  // register u·R0 + q.
  let r0 = 1u << FIRST_STAGES;
  let u0 = 16u >> FIRST_STAGES;
  for (var s = 0u; s < 16u; s++) {
    let j = lid + WG * s;
    v[(s % u0) * r0 + (reverseBits(s / u0) >> (32u - FIRST_STAGES))] = vec2<f32>(sample(base, 2u * j), sample(base, 2u * j + 1u));
  }
  stage(&v, 0u);
  if (FIRST_STAGES > 1u) {
    stage(&v, 1u);
  }
  if (FIRST_STAGES > 2u) {
    stage(&v, 2u);
  }
  if (FIRST_STAGES > 3u) {
    stage(&v, 3u);
  }
  for (var s = 0u; s < 16u; s++) {
    z[swizzle(r0 * (lid + WG * (s / r0)) + s % r0)] = v[s];
  }
  workgroupBarrier();

  // Radix-16 passes, butterfly lid; tw: this pass's block of the twiddle table.
  var ns = r0;
  var tw = 0u;
  for (var p = 1u; p <= params.passes; p++) {
    let k = lid & (ns - 1u);
    for (var r = 0u; r < 16u; r++) {
      var x = z[swizzle(lid + WG * r)];
      if (r > 0u) {
        x = cmul(x, twiddles[tw + (r - 1u) * ns + k]);
      }
      v[reverseBits(r) >> 28u] = x;
    }
    workgroupBarrier();
    stage(&v, 0u);
    stage(&v, 1u);
    stage(&v, 2u);
    stage(&v, 3u);
    let out = (lid / ns) * 16u * ns + k;
    let last = p == params.passes;
    for (var q = 0u; q < 16u; q++) {
      let a = out + ns * q;
      z[select(swizzle(a), a, last)] = v[q];
    }
    workgroupBarrier();
    tw += (15u * ns + 15u) & ~15u;
    ns *= 16u;
  }

  // Split, one pair (k, M−k) per iteration: with E = (Z[k] + conj Z[M−k])/2 and
  // O = (Z[k] − conj Z[M−k])/(2i), X[k] = E + W_n^k·O and X[M−k] = conj(E − W_n^k·O)
  // (k = 0 reads Z[0] twice and gives X[0] and X[M]; k = M/2 is its own mirror).
  let out0 = col * params.nOut;
  let kEnd = min(params.nOut, M / 2u + 1u);
  for (var k = lid; k < kEnd; k += WG) {
    let a = z[k];
    let c = z[(M - k) & (M - 1u)];
    let e = 0.5 * vec2<f32>(a.x + c.x, a.y - c.y);
    let o = 0.5 * vec2<f32>(a.y + c.y, c.x - a.x);
    let wo = cmul(twiddles[tw + k], o);
    spectrum[out0 + k] = e + wo;
    let km = M - k;
    if (km < params.nOut && km != k) {
      spectrum[out0 + km] = vec2<f32>(e.x - wo.x, wo.y - e.y);
    }
  }
}
