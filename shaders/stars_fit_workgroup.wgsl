// The workgroup-memory reduction of stars_fit.wgsl (its default build; spliced in at its
// `include variant` line, never compiled alone). Compiles on every device.

struct Invocation {
  lid: u32,
}

@compute @workgroup_size(WG)
fn iterate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  fit(wid, Invocation(lid));
}

// Each invocation sums straight into its own row of red, where the tree reads them.
fn clearSums(inv: Invocation) {
  let row = inv.lid * NSUM;
  for (var s = 0u; s < NSUM; s++) {
    red[row + s] = 0.0;
  }
}

fn addSum(inv: Invocation, s: u32, v: f32) {
  red[inv.lid * NSUM + s] += v;
}

// Pairwise over the rows, halving the active invocations each level, into red[0..NSUM).
fn reduceSums(inv: Invocation) {
  let lid = inv.lid;
  workgroupBarrier();
  for (var hw = params.halfWg; hw > 0u; hw = hw >> 1u) {
    if (lid < hw) {
      for (var s = 0u; s < NSUM; s++) {
        red[lid * NSUM + s] += red[(lid + hw) * NSUM + s];
      }
    }
    workgroupBarrier();
  }
}
