// Batched forward real-to-complex FFT, one workgroup per column.
//
// A real column of n samples is transformed as n/2 complex points z[j] = x[2j] + i·x[2j+1]
// (radix-4 decimation in time on bit-reversed data in workgroup memory, with one leading
// radix-2 pass when log2(n/2) is odd), then split into the bins X[k] of the real signal.
// Only the first nOut bins are written (AUTOBK keeps ~30-50 of 1025).
//
// Override constants:
//   LOG2_M   log2(n/2); n = 2^(LOG2_M+1), from 256 up to what workgroup memory holds
//            (8·n/2 bytes: n = 4096 needs 16 KiB)
//   WG       invocations per workgroup
//
// Bindings (group 0):
//   0 params    uniform Params (below); one per chunk of columns
//   1 columns   storage read, array<f32>: sample j of column c (relative to this chunk's
//               binding) at columns[c * inputStride + j] for j < inputLength; samples
//               inputLength..n-1 are taken as zero (zero padding without storing it)
//   2 spectrum  storage read_write, array<vec2<f32>>: bin k of column c at
//               spectrum[c * nOut + k], k < nOut <= n/2 + 1, as (re, im)
//   3 twiddles  storage read, array<vec2<f32>>: twiddles[j] = (cos, sin)(-2πj/n) for j < n,
//               computed in float64 on the CPU and rounded once to f32 (the main error
//               source of an f32 FFT is inaccurate twiddles)
//
// Dispatch: workgroup grid (gridX, gridY) with gridX·gridY >= columns; the column of a
// workgroup is id.x + id.y * gridX (grids beyond 65 535 workgroups use y).

struct Params {
  columns: u32,
  nOut: u32,
  inputStride: u32,
  inputLength: u32,
  gridX: u32,
}

override LOG2_M: u32;
override WG: u32 = 256u;
override M: u32 = 1u << LOG2_M;

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

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let col = wid.x + wid.y * params.gridX;
  if (col >= params.columns) {
    return;
  }
  let base = col * params.inputStride;

  // Load in bit-reversed order so the passes below run in place.
  for (var j = lid; j < M; j += WG) {
    let r = reverseBits(j) >> (32u - LOG2_M);
    z[r] = vec2<f32>(sample(base, 2u * j), sample(base, 2u * j + 1u));
  }
  workgroupBarrier();

  var q = 1u;
  if ((LOG2_M & 1u) == 1u) {
    for (var b = lid; b < M / 2u; b += WG) {
      let a0 = z[2u * b];
      let a1 = z[2u * b + 1u];
      z[2u * b] = a0 + a1;
      z[2u * b + 1u] = a0 - a1;
    }
    workgroupBarrier();
    q = 2u;
  }

  // Radix-4 passes combining four sub-transforms of q points. The block at +q holds the DFT
  // of samples 4n+2 (twiddle W^2k), the block at +2q those of 4n+1 (W^k), +3q 4n+3 (W^3k),
  // with W = e^{-2πi/4q} = twiddles[2·M/(4q)] (twiddles are on the n-point circle).
  loop {
    if (q >= M) {
      break;
    }
    let stride = 2u * (M / (4u * q));
    for (var b = lid; b < M / 4u; b += WG) {
      let k = b % q;
      let i0 = (b / q) * 4u * q + k;
      let i1 = i0 + q;
      let i2 = i1 + q;
      let i3 = i2 + q;
      let b0 = z[i0];
      let b1 = cmul(z[i1], twiddles[2u * k * stride]);
      let b2 = cmul(z[i2], twiddles[k * stride]);
      let b3 = cmul(z[i3], twiddles[3u * k * stride]);
      let s = b0 + b1;
      let d = b0 - b1;
      let p = b2 + b3;
      let mm = vec2<f32>(b2.y - b3.y, b3.x - b2.x); // -i·(b2 - b3)
      z[i0] = s + p;
      z[i1] = d + mm;
      z[i2] = s - p;
      z[i3] = d - mm;
    }
    workgroupBarrier();
    q = 4u * q;
  }

  // Split: X[k] = E[k] + W_n^k O[k], E = (Z[k] + conj Z[M-k])/2, O = (Z[k] - conj Z[M-k])/(2i).
  let out0 = col * params.nOut;
  for (var k = lid; k < params.nOut; k += WG) {
    var x: vec2<f32>;
    if (k == 0u) {
      x = vec2<f32>(z[0].x + z[0].y, 0.0);
    } else if (k == M) {
      x = vec2<f32>(z[0].x - z[0].y, 0.0);
    } else {
      let a = z[k];
      let c = z[M - k];
      let e = 0.5 * vec2<f32>(a.x + c.x, a.y - c.y);
      let o = 0.5 * vec2<f32>(a.y + c.y, c.x - a.x);
      x = e + cmul(twiddles[k], o);
    }
    spectrum[out0 + k] = x;
  }
}
