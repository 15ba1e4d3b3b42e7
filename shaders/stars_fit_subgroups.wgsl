// The subgroup reduction of stars_fit.wgsl (its build stars_fit/subgroups; spliced in at its
// `include variant` line, never compiled alone; the two directives go to the top of the shader).
// Needs the device feature `subgroups` and the WGSL language feature `subgroup_id`.
//
// Each invocation sums its pixels in registers; subgroupAdd totals each sum over the subgroup,
// whose elected invocation writes the totals into the subgroup's row of red; then invocation s
// adds column s over the num_subgroups rows. Nothing assumes a subgroup size or that subgroups
// are runs of local_invocation_index (Vulkan promises neither): rows are indexed by subgroup_id,
// and a subgroup that is larger than the workgroup or not full sums just its active invocations.
// The subgroup operations sit in uniform control flow: evaluate() is reached by the whole
// workgroup, and their loop runs to the constant NSUM.
enable subgroups;
requires subgroup_id;

struct Invocation {
  lid: u32,
  // This invocation's subgroup, 0 ≤ sg < nsg, and the number of subgroups of the workgroup.
  sg: u32,
  nsg: u32,
}

@compute @workgroup_size(WG)
fn iterate(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_id) sg: u32,
  @builtin(num_subgroups) nsg: u32,
) {
  fit(wid, Invocation(lid, sg, nsg));
}

// The most sums of any model: NSUM of the rotated Gaussian with the sky slope (NP = 9).
const MAX_SUMS = 55u;

var<private> acc: array<f32, MAX_SUMS>;

fn clearSums(inv: Invocation) {
  for (var s = 0u; s < NSUM; s++) {
    acc[s] = 0.0;
  }
}

fn addSum(inv: Invocation, s: u32, v: f32) {
  acc[s] += v;
}

fn reduceSums(inv: Invocation) {
  let leader = subgroupElect();
  let row = inv.sg * NSUM;
  for (var s = 0u; s < NSUM; s++) {
    let t = subgroupAdd(acc[s]);
    if (leader) {
      red[row + s] = t;
    }
  }
  workgroupBarrier();
  // Column s is read and written by invocation s alone, so the total may overwrite row 0.
  for (var s = inv.lid; s < NSUM; s += WG) {
    var t = red[s];
    for (var k = 1u; k < inv.nsg; k++) {
      t += red[k * NSUM + s];
    }
    red[s] = t;
  }
  workgroupBarrier();
}
