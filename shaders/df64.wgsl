// Double-f32 ("df64") arithmetic shared by the kernels that need more than f32: pairs
// (hi, lo) with |lo| ≤ ulp(hi)/2, ~46 significant bits. An includer declares
// `params` with two f32 fields `one` and `one2`, both 1.0 at run time: multiplying by them
// keeps the compiler from folding or regrouping the error-free transforms (see the notes in
// autobk_series.wgsl and docs/architecture.md). src/gpu/df64SelfTest.ts checks these
// functions on each device before a batch relies on them.

// Knuth's TwoSum. Without the guards lavapipe regroups (a − av) + (b − bv), which loses the
// error term; the last two products use different uniforms so that no common factor can be
// pulled out of their sum.
fn twoSum(a: f32, b: f32) -> vec2<f32> {
  let s = (a + b) * params.one;
  let bv = (s - a) * params.one;
  let av = (s - bv) * params.one;
  let da = (a - av) * params.one;
  let db = (b - bv) * params.one2;
  return vec2<f32>(s, da + db);
}

// |a| ≥ |b| or a = 0.
fn fastTwoSum(a: f32, b: f32) -> vec2<f32> {
  let s = (a + b) * params.one;
  return vec2<f32>(s, b - (s - a) * params.one);
}

// Veltkamp split into two halves of at most 12 significant bits. The product is rounded
// through `one` so that c − a cannot be contracted into an exact fma(4097, a, −a).
fn split(a: f32) -> vec2<f32> {
  let c = (4097.0 * a) * params.one;
  let h = c - (c - a) * params.one;
  return vec2<f32>(h, a - h);
}

// acc (sum, error sum) += a·x, a = (a1 + a2) + alo, x = (b1 + b2) + blo: the product of the hi
// parts exactly (Dekker), the cross terms in f32, the sum by TwoSum.
fn mac(acc: vec2<f32>, a1: f32, a2: f32, alo: f32, b1: f32, b2: f32, blo: f32) -> vec2<f32> {
  let ah = a1 + a2;
  let bh = b1 + b2;
  // Rounded before use: contracting ah·bh into the sums below (an fma) would add its rounding
  // error twice, once there and once in pe.
  let p = (ah * bh) * params.one;
  // Dekker's error sum, each step rounded through `one` so that no partial products are
  // regrouped (a1·b1 + a1·b2 → a1·bh would no longer be exact).
  let e1 = (a1 * b1 - p) * params.one;
  let e2 = (e1 + a1 * b2) * params.one;
  let e3 = (e2 + a2 * b1) * params.one;
  let pe = e3 + a2 * b2;
  let t = twoSum(acc.x, p);
  return vec2<f32>(t.x, acc.y + (t.y + pe + (ah * blo + alo * bh)));
}

fn finishSum(acc: vec2<f32>) -> vec2<f32> {
  return fastTwoSum(acc.x, acc.y);
}

// A float64 from its two little-endian words, as df64 (zero and subnormals → 0; the caller
// keeps |μ| below f32 range).
fn decodeF64(lo: u32, hi: u32) -> vec2<f32> {
  let e = i32((hi >> 20u) & 0x7ffu);
  if (e == 0) {
    return vec2<f32>(0.0, 0.0);
  }
  let m1 = (((hi & 0xfffffu) | 0x100000u) << 3u) | (lo >> 29u);
  let m0 = lo & 0x1fffffffu;
  var v = fastTwoSum(ldexp(f32(m1), e - 1046), ldexp(f32(m0), e - 1075));
  if ((hi >> 31u) != 0u) {
    v = -v;
  }
  return v;
}
