// Levenberg–Marquardt PSF fits, one workgroup per star, a few iterations per dispatch: the
// outer loop runs in TypeScript and reads back only the number of stars still active. The
// algorithm is that of src/stars/psfFit32.ts (Marquardt damping, Cholesky solve, per-parameter
// tolerances, "a step below tolerance that no longer lowers χ² has converged"), in float32 on
// stamp-local coordinates with the data scaled by S (centroid.md §11).
//
// Models and parameter layouts (background B at NB, then with SLOPE the sky slope Bx, By), all
// integrated over the pixel:
//   MODEL 0 gaussian         [x0, y0, F, σx, σy, B (, Bx, By)]   exact, differences of the normal CDF
//   MODEL 1 gaussianRotated  [x0, y0, F, a, b, c, B (, Bx, By)]  2×2 Gauss–Legendre per pixel
//   MODEL 2 moffat, fixed β  [x0, y0, A, α, B (, Bx, By)]        2×2 Gauss–Legendre per pixel
//   MODEL 3 moffat, free β   [x0, y0, A, α, β, B (, Bx, By)]     2×2 Gauss–Legendre per pixel
// The sky under the star is B + Bx·u + By·v (u, v the stamp offsets of the pixel), on top of the
// local plane the extraction subtracted.
//
// Override constants: MODEL, NP (its parameter count, the slope's two included), SLOPE (whether
// the slope is fitted), R (stamp radius; SIDE = 2R+1, NPIX = SIDE²), WG (invocations per
// workgroup, a power of two ≥ 64).
//
// Bindings (group 0):
//   0 params  uniform FitParams (below), one per chunk of stars
//   1 stamps  storage read, array<vec2<f32>>: NPIX (z, w) per star, as stars_extract writes them
//   2 lm      storage read_write, array<f32>: LM = 80 words per star, room for MAXP = 9 parameters:
//               [0, 9)   parameters p           [9, 18)  JᵀWr at p        [18, 27) tolerances
//               [27, 72) JᵀWJ at p, lower triangle packed row by row (k(k+1)/2 + l, l ≤ k)
//               72 λ   73 χ²   74 iterations   75 status   76 pixels with w > 0
//               77, 78 variances of x0, y0 from (JᵀWJ)⁻¹   79 sky σ / S (tolerance of B)
//             status: 0…5 the FIT_* reasons of psfModel.ts (finished), 100 pending (start
//             parameters written, χ² not yet evaluated), 101 active, 102 no fit
//   3 activeCount storage read_write, atomic<u32>: incremented once per star still active after
//             this dispatch (the host clears it before each submission)
//
// Dispatch: workgroup grid (gridX, gridY), star = id.x + id.y·gridX < count.
//
// Two builds of this one source (scripts/embed-shaders.mjs, the `include variant` line below),
// which differ only in how evaluate() sums JᵀWJ, JᵀWr and χ² over the workgroup:
//   stars_fit            (stars_fit_workgroup.wgsl) a row of `red` per invocation in workgroup
//                        memory, reduced by a tree; compiles everywhere
//   stars_fit/subgroups  (stars_fit_subgroups.wgsl) sums in registers, subgroupAdd, one row of
//                        `red` per subgroup; needs the `subgroups` feature and the `subgroup_id`
//                        WGSL language feature (src/gpu/starsFit.ts chooses)
// Each declares the entry point `iterate` (its builtins differ), which calls fit() with the
// invocation's ids in a struct Invocation, and defines clearSums / addSum / reduceSums.
//
// The LM_* offsets, BETA_MIN/MAX, isFiniteBits, nanValue and admissible come from
// stars_common.wgsl, spliced in at the include line (its Params is the extraction's uniform,
// hence FitParams here).

struct FitParams {
  count: u32,
  gridX: u32,
  beta: f32,
  iterations: u32,
  // 0x7fc00000: a NaN the compiler cannot fold (a constant NaN is a WGSL error).
  nanBits: u32,
  // WG/2 at run time: a constant trip count lets lavapipe's LLVM unroll the reduction around
  // its barriers, which made cold compiles take minutes (read by the workgroup variant only).
  halfWg: u32,
}

override MODEL: u32;
override NP: u32;
override SLOPE: bool = false;
// Index of B in the layout.
override NB: u32 = NP - select(1u, 3u, SLOPE);
override R: i32;
override WG: u32 = 64u;
override SIDE: i32 = 2 * R + 1;
override NPIX: u32 = u32(SIDE * SIDE);
override NH: u32 = NP * (NP + 1u) / 2u;
override NSUM: u32 = NH + NP + 1u;
// One row of NSUM per invocation (workgroup variant) or per subgroup (subgroup variant: a
// subgroup has at least one invocation, so there are at most WG of them, whatever their size).
override NRED: u32 = NSUM * WG;

//! include "stars_common.wgsl"
//! include variant default="stars_fit_workgroup.wgsl" subgroups="stars_fit_subgroups.wgsl"

const MAX_ITERATIONS = 100u;
const SQRT1_2PI = 0.3989422804014327;
const GL = 0.28867513459481287;

@group(0) @binding(0) var<uniform> params: FitParams;
@group(0) @binding(1) var<storage, read> stamps: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> lm: array<f32>;
@group(0) @binding(3) var<storage, read_write> activeCount: atomic<u32>;

var<workgroup> zs: array<f32, NPIX>;
var<workgroup> wz: array<f32, NPIX>;
var<workgroup> red: array<f32, NRED>;
// Separable factors of the pixel-integrated Gaussian: value, ∂/∂centre, ∂/∂σ per column and row.
var<workgroup> gx: array<vec3<f32>, SIDE>;
var<workgroup> gy: array<vec3<f32>, SIDE>;
// The point the pixel pass evaluates, and the pass's control word.
var<workgroup> trial: array<f32, MAXP>;
var<workgroup> ctl: u32;

fn hIdx(k: u32, l: u32) -> u32 {
  return k * (k + 1u) / 2u + l;
}

// Q(t) = 1 − Φ(t) for t ≥ 0 (the formula of upperTail in psfModel.ts); gauss = exp(−t²/2).
fn upperTail(t: f32, gauss: f32) -> f32 {
  let x = t * 0.7071067811865476;
  let s = 1.0 / (1.0 + 0.5 * x);
  let poly = -1.26551223 + s * (1.00002368 + s * (0.37409196 + s * (0.09678418 + s * (-0.18628806 + s * (0.27886807 + s * (-1.13520398 + s * (1.48851587 + s * (-0.82215223 + s * 0.17087277))))))));
  return 0.5 * s * gauss * exp(poly);
}

// Pixel m of the 1-D pixel-integrated Gaussian centred on c with width s: (value, ∂/∂c, ∂/∂s).
fn gaussCell(m: i32, c: f32, s: f32) -> vec3<f32> {
  let t0 = (f32(m - R) - 0.5 - c) / s;
  let t1 = (f32(m - R) + 0.5 - c) / s;
  let g0 = exp(-0.5 * t0 * t0);
  let g1 = exp(-0.5 * t1 * t1);
  let ph0 = SQRT1_2PI * g0;
  let ph1 = SQRT1_2PI * g1;
  let q0 = upperTail(abs(t0), g0);
  let q1 = upperTail(abs(t1), g1);
  // The difference of the CDFs is taken where both tails are small, so that far pixels keep
  // their relative precision in float32.
  var X: f32;
  if (t0 >= 0.0) {
    X = q0 - q1;
  } else if (t1 <= 0.0) {
    X = q1 - q0;
  } else {
    X = 1.0 - q1 - q0;
  }
  return vec3<f32>(X, -(ph1 - ph0) / s, -(t1 * ph1 - t0 * ph0) / s);
}

struct Pixel {
  model: f32,
  j: array<f32, MAXP>,
}

fn pixelTerms(i: i32, j: i32, q: array<f32, MAXP>) -> Pixel {
  var px: Pixel;
  switch (MODEL) {
    case 0u: {
      let X = gx[i];
      let Y = gy[j];
      let F = q[2];
      let FY = F * Y.x;
      px.j[0] = FY * X.y;
      px.j[1] = X.x * (F * Y.y);
      px.j[2] = X.x * Y.x;
      px.j[3] = FY * X.z;
      px.j[4] = X.x * (F * Y.z);
      px.j[5] = 1.0;
      px.model = F * px.j[2] + q[5];
    }
    case 1u: {
      let a = q[3];
      let b = q[4];
      let c = q[5];
      let D = a * c - b * b;
      let N = sqrt(D) / (2.0 * PI) * 0.25;
      let FN = q[2] * N;
      var s0 = 0.0;
      var s1 = 0.0;
      var s2 = 0.0;
      var sa = 0.0;
      var sb = 0.0;
      var sc = 0.0;
      for (var qy = 0; qy < 2; qy++) {
        let dy = f32(j - R) - q[1] + select(-GL, GL, qy == 1);
        for (var qx = 0; qx < 2; qx++) {
          let dx = f32(i - R) - q[0] + select(-GL, GL, qx == 1);
          let e = exp(-0.5 * (a * dx * dx + 2.0 * b * dx * dy + c * dy * dy));
          s0 += e;
          s1 += e * (a * dx + b * dy);
          s2 += e * (b * dx + c * dy);
          sa += e * dx * dx;
          sb += e * dx * dy;
          sc += e * dy * dy;
        }
      }
      let P = N * s0;
      px.j[0] = FN * s1;
      px.j[1] = FN * s2;
      px.j[2] = P;
      px.j[3] = FN * (c / (2.0 * D) * s0 - 0.5 * sa);
      px.j[4] = FN * (-b / D * s0 - sb);
      px.j[5] = FN * (a / (2.0 * D) * s0 - 0.5 * sc);
      px.j[6] = 1.0;
      px.model = q[2] * P + q[6];
    }
    default: {
      let F = q[2];
      let alpha = q[3];
      let beta = select(params.beta, q[4], MODEL == 3u);
      let ia2 = 1.0 / (alpha * alpha);
      var sP = 0.0;
      var sX = 0.0;
      var sY = 0.0;
      var sR = 0.0;
      var sL = 0.0;
      for (var qy = 0; qy < 2; qy++) {
        let dy = f32(j - R) - q[1] + select(-GL, GL, qy == 1);
        for (var qx = 0; qx < 2; qx++) {
          let dx = f32(i - R) - q[0] + select(-GL, GL, qx == 1);
          let r2 = dx * dx + dy * dy;
          let u = 1.0 + r2 * ia2;
          let lu = log(u);
          let pw = exp(-beta * lu);
          let pw1 = pw / u;
          sP += pw;
          sX += pw1 * dx;
          sY += pw1 * dy;
          sR += pw1 * r2;
          sL += pw * lu;
        }
      }
      let P = 0.25 * sP;
      let c = 0.5 * F * beta * ia2;
      px.j[0] = c * sX;
      px.j[1] = c * sY;
      px.j[2] = P;
      px.j[3] = c * sR / alpha;
      if (MODEL == 3u) {
        px.j[4] = -0.25 * F * sL;
      }
      px.j[NB] = 1.0;
      px.model = F * P + q[NB];
    }
  }
  if (SLOPE) {
    let u = f32(i - R);
    let v = f32(j - R);
    px.j[NB + 1u] = u;
    px.j[NB + 2u] = v;
    px.model += q[NB + 1u] * u + q[NB + 2u] * v;
  }
  return px;
}

// JᵀWJ (packed), JᵀWr and χ² of the model at `trial` over the stamp, summed over the workgroup
// into red[0..NSUM) by the variant's clearSums / addSum / reduceSums.
fn evaluate(inv: Invocation) {
  let lid = inv.lid;
  var q: array<f32, MAXP>;
  for (var k = 0u; k < MAXP; k++) {
    q[k] = trial[k];
  }
  if (MODEL == 0u) {
    let i = i32(lid);
    if (i < SIDE) {
      gx[i] = gaussCell(i, q[0], q[3]);
    } else if (i >= 32 && i < 32 + SIDE) {
      gy[i - 32] = gaussCell(i - 32, q[1], q[4]);
    }
    workgroupBarrier();
  }
  clearSums(inv);
  for (var k = lid; k < NPIX; k += WG) {
    let wt = wz[k];
    if (wt == 0.0) {
      continue;
    }
    let px = pixelTerms(i32(k) % SIDE, i32(k) / SIDE, q);
    let r = zs[k] - px.model;
    let wr = wt * r;
    addSum(inv, NH + NP, wr * r);
    var h = 0u;
    for (var a = 0u; a < NP; a++) {
      let ja = px.j[a];
      addSum(inv, NH + a, wr * ja);
      let wa = wt * ja;
      for (var b = 0u; b <= a; b++) {
        addSum(inv, h, wa * px.j[b]);
        h++;
      }
    }
  }
  reduceSums(inv);
}

// Cholesky of the packed lower triangle in place; false if not positive definite.
fn cholesky(A: ptr<function, array<f32, MAXH>>) -> bool {
  for (var k = 0u; k < NP; k++) {
    var d = (*A)[hIdx(k, k)];
    for (var m = 0u; m < k; m++) {
      d -= (*A)[hIdx(k, m)] * (*A)[hIdx(k, m)];
    }
    if (!(d > 0.0)) {
      return false;
    }
    let L = sqrt(d);
    (*A)[hIdx(k, k)] = L;
    for (var i = k + 1u; i < NP; i++) {
      var s = (*A)[hIdx(i, k)];
      for (var m = 0u; m < k; m++) {
        s -= (*A)[hIdx(i, m)] * (*A)[hIdx(k, m)];
      }
      (*A)[hIdx(i, k)] = s / L;
    }
  }
  return true;
}

fn cholSolve(A: ptr<function, array<f32, MAXH>>, b: ptr<function, array<f32, MAXP>>) {
  for (var i = 0u; i < NP; i++) {
    var s = (*b)[i];
    for (var m = 0u; m < i; m++) {
      s -= (*A)[hIdx(i, m)] * (*b)[m];
    }
    (*b)[i] = s / (*A)[hIdx(i, i)];
  }
  for (var ii = 0u; ii < NP; ii++) {
    let i = NP - 1u - ii;
    var s = (*b)[i];
    for (var m = i + 1u; m < NP; m++) {
      s -= (*A)[hIdx(m, i)] * (*b)[m];
    }
    (*b)[i] = s / (*A)[hIdx(i, i)];
  }
}

// The body of the entry point `iterate`, which each variant declares with the builtins it needs.
fn fit(wid: vec3<u32>, inv: Invocation) {
  let lid = inv.lid;
  let star = wid.x + wid.y * params.gridX;
  if (star >= params.count) {
    return;
  }
  let lb = star * LM;
  if (lid == 0u) {
    ctl = u32(lm[lb + LM_STATUS]);
  }
  let status0 = workgroupUniformLoad(&ctl);
  if (status0 != FIT_PENDING && status0 != FIT_ACTIVE) {
    return;
  }
  let sb = star * NPIX;
  for (var k = lid; k < NPIX; k += WG) {
    let v = stamps[sb + k];
    zs[k] = v.x;
    wz[k] = v.y;
  }
  // The LM state lives in invocation 0's registers for the whole dispatch.
  var p: array<f32, MAXP>;
  var g: array<f32, MAXP>;
  var tol: array<f32, MAXP>;
  var H: array<f32, MAXH>;
  var lambda = 0.0;
  var chi2 = 0.0;
  var iter = 0u;
  var status = status0;
  if (lid == 0u) {
    for (var k = 0u; k < MAXP; k++) {
      p[k] = lm[lb + k];
      g[k] = lm[lb + LM_G + k];
      tol[k] = lm[lb + LM_TOL + k];
      trial[k] = p[k];
    }
    for (var k = 0u; k < MAXH; k++) {
      H[k] = lm[lb + LM_H + k];
    }
    lambda = lm[lb + LM_LAMBDA];
    chi2 = lm[lb + LM_CHI2];
    iter = u32(lm[lb + LM_ITER]);
  }
  // One call site of evaluate: lavapipe compiles each inlined copy of its barriers anew, and
  // a second copy doubled the (minutes-long, cold-cache) compile of this kernel. A pending star
  // spends its first step evaluating the start point.
  let steps = params.iterations + select(0u, 1u, status0 == FIT_PENDING);
  for (var stp = 0u; stp < steps; stp++) {
    // Nobody may still be reading ctl or red of the previous step when invocation 0 writes them.
    workgroupBarrier();
    var small = true;
    if (lid == 0u) {
      ctl = 4u;
      if (status == FIT_PENDING) {
        ctl = 3u;
      }
    }
    if (lid == 0u && status == FIT_ACTIVE) {
      iter++;
      var A: array<f32, MAXH>;
      var delta: array<f32, MAXP>;
      for (var k = 0u; k < NP; k++) {
        for (var l = 0u; l < k; l++) {
          A[hIdx(k, l)] = H[hIdx(k, l)];
        }
        // Marquardt's scaling: damping proportional to each parameter's own curvature.
        A[hIdx(k, k)] = H[hIdx(k, k)] * (1.0 + lambda);
        delta[k] = g[k];
      }
      // Moffat β on its bound with the gradient pushing outwards is held for this step.
      if (MODEL == 3u && ((p[4] <= BETA_MIN && g[4] < 0.0) || (p[4] >= BETA_MAX && g[4] > 0.0))) {
        for (var l = 0u; l < NP; l++) {
          if (l < 4u) {
            A[hIdx(4u, l)] = 0.0;
          } else if (l > 4u) {
            A[hIdx(l, 4u)] = 0.0;
          }
        }
        A[hIdx(4u, 4u)] = 1.0;
        delta[4] = 0.0;
      }
      ctl = 0u;
      if (!cholesky(&A)) {
        lambda *= 10.0;
        if (lambda > 1e10) {
          status = FIT_SINGULAR;
        }
      } else {
        cholSolve(&A, &delta);
        var pt: array<f32, MAXP>;
        for (var k = 0u; k < MAXP; k++) {
          pt[k] = p[k];
        }
        for (var k = 0u; k < NP; k++) {
          pt[k] = p[k] + delta[k];
        }
        if (MODEL == 3u) {
          pt[4] = clamp(pt[4], BETA_MIN, BETA_MAX);
        }
        for (var k = 0u; k < NP; k++) {
          // The damped step is the Gauss–Newton step shrunk by about 1/(1 + λ): scaled back up
          // so a heavily damped step does not pass for convergence. Shape and flux also
          // converge at 1 % of their conditional σ. The step is the solved one, not the change
          // of the stored parameter (smaller when β is clamped): near the optimum that change
          // is one float32 ulp, which (1 + λ) would blow up past any tolerance, leaving the
          // fit accepting ulp-sized moves of equal χ² until it runs out of iterations.
          var t = tol[k];
          if (k >= 2u) {
            t = max(t, 0.01 / sqrt(H[hIdx(k, k)]));
          }
          if (!(min(abs(delta[k]), abs(pt[k] - p[k])) * (1.0 + lambda) < t)) {
            small = false;
          }
        }
        // A step whose promised χ² decrease, gᵀδ·(1 + λ) for the undamped step, is below
        // what float32 resolves in χ² cannot be verified by evaluating it: the optimum is
        // reached to the precision of the arithmetic.
        var promised = 0.0;
        for (var k = 0u; k < NP; k++) {
          promised += g[k] * delta[k];
        }
        if (promised * (1.0 + lambda) < 1e-6 * chi2) {
          small = true;
        }
        for (var k = 0u; k < MAXP; k++) {
          trial[k] = pt[k];
        }
        ctl = select(1u, 2u, admissible(pt, MODEL));
      }
    }
    // ctl: 0 no trial (Cholesky failed), 1 trial outside the bounds, 2 evaluate the trial,
    // 3 evaluate the start point, 4 finished.
    let ev = workgroupUniformLoad(&ctl);
    if (ev == 4u) {
      break;
    }
    if (ev >= 2u) {
      evaluate(inv);
    }
    if (lid == 0u && ev == 3u) {
      // Position: 1e-4 px. Flux and shape: 1e-4 relative. Background: 1e-3 of the sky σ, its
      // slope 1e-3 of the sky σ across the stamp's radius.
      tol[0] = 1e-4;
      tol[1] = 1e-4;
      for (var k = 2u; k < NB; k++) {
        tol[k] = 1e-4 * abs(p[k]);
      }
      if (MODEL == 1u) {
        let s = 1e-4 * (p[3] + p[5]);
        tol[3] = s;
        tol[4] = s;
        tol[5] = s;
      }
      tol[NB] = 1e-3 * lm[lb + LM_NOISE];
      if (SLOPE) {
        tol[NB + 1u] = tol[NB] / f32(R);
        tol[NB + 2u] = tol[NB] / f32(R);
      }
      for (var k = 0u; k < NH; k++) {
        H[k] = red[k];
      }
      for (var k = 0u; k < NP; k++) {
        g[k] = red[NH + k];
      }
      chi2 = red[NH + NP];
      lambda = 1e-3;
      iter = 0u;
      status = select(FIT_INVALID, FIT_ACTIVE, isFiniteBits(chi2));
    } else if (lid == 0u && ev != 0u) {
      let chi2t = select(3.0e38, red[NH + NP], ev == 2u);
      if (ev == 2u && chi2t <= chi2) {
        for (var k = 0u; k < NP; k++) {
          p[k] = trial[k];
          g[k] = red[NH + k];
        }
        for (var k = 0u; k < NH; k++) {
          H[k] = red[k];
        }
        chi2 = chi2t;
        lambda = max(lambda * 0.3, 1e-12);
        if (small) {
          status = FIT_CONVERGED;
        }
      } else if (small) {
        // A step already below tolerance that no longer lowers χ²: the optimum is reached to
        // the precision of float32 (this ends most fits).
        status = FIT_CONVERGED;
      } else {
        lambda *= 10.0;
        if (lambda > 1e10) {
          status = FIT_LAMBDA_OVERFLOW;
        }
      }
    }
    if (lid == 0u && status == FIT_ACTIVE && iter >= MAX_ITERATIONS) {
      status = FIT_MAX_ITERATIONS;
    }
  }
  if (lid != 0u) {
    return;
  }
  for (var k = 0u; k < MAXP; k++) {
    lm[lb + k] = p[k];
    lm[lb + LM_G + k] = g[k];
    lm[lb + LM_TOL + k] = tol[k];
  }
  for (var k = 0u; k < MAXH; k++) {
    lm[lb + LM_H + k] = H[k];
  }
  lm[lb + LM_LAMBDA] = lambda;
  lm[lb + LM_CHI2] = chi2;
  lm[lb + LM_ITER] = f32(iter);
  lm[lb + LM_STATUS] = f32(status);
  if (status == FIT_ACTIVE) {
    atomicAdd(&activeCount, 1u);
    return;
  }
  var A = H;
  var vx = nanValue();
  var vy = nanValue();
  if (cholesky(&A)) {
    var e0 = array<f32, MAXP>(1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    cholSolve(&A, &e0);
    vx = e0[0];
    var e1 = array<f32, MAXP>(0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    cholSolve(&A, &e1);
    vy = e1[1];
  }
  lm[lb + LM_VARX] = vx;
  lm[lb + LM_VARY] = vy;
}
