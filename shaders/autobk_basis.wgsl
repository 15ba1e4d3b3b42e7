// AUTOBK Jacobian columns: the windowed cubic B-spline basis −w(k_i)·B_j(k_i) on the uniform
// k grid k_i = kstep·i, written as input columns of the batched FFT (shaders/fft.wgsl). Their
// transforms are the columns of A (r_fft = A·δ + r0). One workgroup per column.
//
// B_j follows FITPACK (src/math/bspline.ts): the knot interval l with t[l] ≤ k < t[l+1], clamped
// to 3..nspl−1 so that points beyond the knot span use the end piece's polynomial, and the
// Cox–de Boor recurrence for the four non-zero values B_{l−3..l}.
//
// Override constants:
//   WG       invocations per workgroup
//
// Bindings (group 0):
//   0 params   uniform Params (below)
//   1 index    storage read, array<u32>:
//                group record g at index[8g .. 8g+8]: col0 (FFT column of the group's first basis function),
//                nspl, rows (2·irbkg), nk (k points), knot0 (offset of its nspl+4 knots in
//                consts), win0 (offset of its nk window values in consts), clampG0, clampW0
//                (used by autobk_lm.wgsl);
//                group of basis column c (FFT column firstCol + c) at index[colGroup + c]
//   2 consts   storage read, array<f32>: knots and windows at the offsets above; the window
//              values are ftwin_i·0.05/√π (AUTOBK's residual FT scale folded in)
//   3 columns  storage read_write, array<f32>: sample i of FFT column c at columns[c·inputLength + i];
//              samples nk..inputLength−1 are written as 0 (zero padding of shorter grids)
//
// Dispatch: workgroup grid (gridX, gridY), basis column = id.x + id.y·gridX, ≥ nCols workgroups.

struct Params {
  nCols: u32,
  inputLength: u32,
  gridX: u32,
  colGroup: u32,
  firstCol: u32,
  kstep: f32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> index: array<u32>;
@group(0) @binding(2) var<storage, read> consts: array<f32>;
@group(0) @binding(3) var<storage, read_write> columns: array<f32>;

fn knotInterval(t0: u32, ncoef: u32, x: f32) -> u32 {
  var lo = 3u;
  var hi = ncoef - 1u;
  if (!(x >= consts[t0 + lo + 1u])) {
    return lo;
  }
  if (x >= consts[t0 + hi]) {
    return hi;
  }
  loop {
    if (hi - lo <= 1u) {
      break;
    }
    let mid = (lo + hi) / 2u;
    if (consts[t0 + mid] <= x) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// B_{l−3+m}(x) for m in 0..3 on interval l (the recurrence of basisValues, all four values).
fn basisValue(t0: u32, l: u32, x: f32, m: u32) -> f32 {
  let t = t0 + l;
  let r1 = consts[t + 1u] - x;
  let r2 = consts[t + 2u] - x;
  let r3 = consts[t + 3u] - x;
  let l1 = x - consts[t];
  let l2 = x - consts[t - 1u];
  let l3 = x - consts[t - 2u];
  var temp = 1.0 / (r1 + l1);
  var b0 = r1 * temp;
  var b1 = l1 * temp;
  temp = b0 / (r1 + l2);
  b0 = r1 * temp;
  var saved = l2 * temp;
  temp = b1 / (r2 + l1);
  b1 = saved + r2 * temp;
  let b2 = l1 * temp;
  var out = array<f32, 4>();
  temp = b0 / (r1 + l3);
  out[0] = r1 * temp;
  saved = l3 * temp;
  temp = b1 / (r2 + l2);
  out[1] = saved + r2 * temp;
  saved = l2 * temp;
  temp = b2 / (r3 + l1);
  out[2] = saved + r3 * temp;
  out[3] = l1 * temp;
  return out[m];
}

@compute @workgroup_size(WG)
fn basis_columns(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x + wid.y * params.gridX;
  if (c >= params.nCols) {
    return;
  }
  let g = index[params.colGroup + c];
  let col = params.firstCol + c;
  let col0 = index[8u * g];
  let nspl = index[8u * g + 1u];
  let nk = index[8u * g + 3u];
  let knot0 = index[8u * g + 4u];
  let win0 = index[8u * g + 5u];
  let j = col - col0;
  let base = col * params.inputLength;
  for (var i = lid; i < params.inputLength; i += WG) {
    var v = 0.0;
    if (i < nk) {
      let x = params.kstep * f32(i);
      let l = knotInterval(knot0, nspl, x);
      if (j + 3u >= l && j <= l) {
        v = -consts[win0 + i] * basisValue(knot0, l, x, j + 3u - l);
      }
    }
    columns[base + i] = v;
  }
}
