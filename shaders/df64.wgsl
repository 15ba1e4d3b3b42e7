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

// ---- float64 bit patterns -------------------------------------------------------------------
// Results leave a kernel as IEEE float64 words, vec2<u32>(low word, high word), so that the
// host reads them as a Float64Array without converting pairs. Everything below works on the
// bit patterns in u32 arithmetic: float operations could be flushed (subnormals), reassociated
// or assumed finite (WGSL lets a compiler fold `v != v`), none of which touches integers.

// NaN and ±inf are those with an all-ones exponent.
fn isFiniteBits(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

// The float64 equal to v, exactly: ±0 keep their sign, subnormal f32 are normalised (exact, not
// flushed), ±inf stay infinite and NaN stays NaN with its payload shifted as a CPU converts it.
fn encodeF32(v: f32) -> vec2<u32> {
  let b = bitcast<u32>(v);
  let sign = b & 0x80000000u;
  let e = (b >> 23u) & 0xffu;
  var m = b & 0x7fffffu;
  var e64: u32;
  if (e == 0xffu) {
    e64 = 0x7ffu;
  } else if (e != 0u) {
    e64 = e + 896u;
  } else if (m == 0u) {
    return vec2<u32>(0u, sign);
  } else {
    // m·2⁻¹⁴⁹: move the leading bit to the implicit position 23.
    let s = 23u - firstLeadingBit(m);
    m = (m << s) & 0x7fffffu;
    e64 = 897u - s;
  }
  return vec2<u32>(m << 29u, sign | (e64 << 20u) | (m >> 3u));
}

// Unsigned 64-bit helpers on (low, high) word pairs, shift counts < 64.
fn u64Add(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  let lo = a.x + b.x;
  return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

fn u64Sub(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  return vec2<u32>(a.x - b.x, a.y - b.y - select(0u, 1u, a.x < b.x));
}

// WGSL takes shift counts modulo 32, hence the separate cases.
fn u64Shl(a: vec2<u32>, n: u32) -> vec2<u32> {
  if (n == 0u) {
    return a;
  }
  if (n >= 32u) {
    return vec2<u32>(0u, a.x << (n - 32u));
  }
  return vec2<u32>(a.x << n, (a.y << n) | (a.x >> (32u - n)));
}

fn u64Shr(a: vec2<u32>, n: u32) -> vec2<u32> {
  if (n == 0u) {
    return a;
  }
  if (n >= 32u) {
    return vec2<u32>(a.y >> (n - 32u), 0u);
  }
  return vec2<u32>((a.x >> n) | (a.y << (32u - n)), a.y >> n);
}

// The float64 nearest to the exact hi + lo (ties to even), i.e. what a CPU's f64(hi) + f64(lo)
// gives. Any finite pair works, not only normalised df64 ones (|lo| ≤ ulp(hi)/2): an
// unnormalised pair such as hi = 0, lo ≠ 0 still encodes to its exact sum. A non-finite hi
// gives encodeF32(hi) whatever lo is (a df64 op that overflowed leaves hi = ±inf and lo = ∓inf
// or NaN, and the overflow is what should show); a finite hi with non-finite lo gives
// encodeF32(lo).
fn encodeDf64(v: vec2<f32>) -> vec2<u32> {
  if (!isFiniteBits(v.x)) {
    return encodeF32(v.x);
  }
  if (!isFiniteBits(v.y)) {
    return encodeF32(v.y);
  }
  // a: the operand of larger magnitude (finite floats order as their magnitude bits do).
  var ab = bitcast<u32>(v.x);
  var bb = bitcast<u32>(v.y);
  if ((bb & 0x7fffffffu) > (ab & 0x7fffffffu)) {
    let t = ab;
    ab = bb;
    bb = t;
  }
  let sa = ab & 0x80000000u;
  let sb = bb & 0x80000000u;
  // Biased exponents, 1 for subnormals (whose significand has no implicit bit).
  let ea = max((ab >> 23u) & 0xffu, 1u);
  let eb = max((bb >> 23u) & 0xffu, 1u);
  let ma = select(ab & 0x7fffffu, (ab & 0x7fffffu) | 0x800000u, ((ab >> 23u) & 0xffu) != 0u);
  let mb = select(bb & 0x7fffffu, (bb & 0x7fffffu) | 0x800000u, ((bb >> 23u) & 0xffu) != 0u);
  // Fixed point in units of 2^(ea − 182): |a| = ma·2³², |b| aligned below it. Bits of b more
  // than 32 places below a's last bit only matter as a sticky bit: by then |a| ≥ 2⁵⁵ units,
  // the result has ≥ 54 bits and they lie below its rounding bit.
  let d = ea - eb;
  var bw = vec2<u32>(0u, 0u);
  var sticky = false;
  if (d < 32u) {
    bw = u64Shl(vec2<u32>(mb, 0u), 32u - d);
  } else if (d < 56u) {
    bw = vec2<u32>(mb >> (d - 32u), 0u);
    sticky = (mb & ((1u << (d - 32u)) - 1u)) != 0u;
  } else {
    sticky = mb != 0u;
  }
  var t: vec2<u32>;
  if (sa == sb) {
    t = u64Add(vec2<u32>(0u, ma), bw);
  } else {
    // Subtracting a truncated b: the exact difference lies strictly between t and t + 1.
    bw.x += select(0u, 1u, sticky);
    t = u64Sub(vec2<u32>(0u, ma), bw);
  }
  if (t.x == 0u && t.y == 0u) {
    // Exact cancellation is +0 (round to nearest); −0 only for −0 + −0.
    return vec2<u32>(0u, sa & sb);
  }
  // Leading bit p ≤ 56 (|a| + |b| < 2⁵⁷ units); 53 significant bits, rounded when p > 52.
  let p = select(firstLeadingBit(t.x), 32u + firstLeadingBit(t.y), t.y != 0u);
  var q: vec2<u32>;
  if (p > 52u) {
    let r = p - 52u;
    q = u64Shr(t, r);
    let rem = t.x & ((1u << r) - 1u);
    let half = 1u << (r - 1u);
    if (rem > half || (rem == half && (sticky || (q.x & 1u) != 0u))) {
      q = u64Add(q, vec2<u32>(1u, 0u));
    }
  } else {
    q = u64Shl(t, 52u - p);
  }
  // q's leading bit (2⁵², bit 20 of its high word) adds 1 to the exponent field, which also
  // absorbs a round-up to 2⁵³.
  let e64 = p + ea + 841u;
  return vec2<u32>(q.x, sa | (((e64 - 1u) << 20u) + q.y));
}
