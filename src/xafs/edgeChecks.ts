/**
 * Whether a fitted spectrum has an edge at all, beyond what autobk itself refuses: the checks
 * the CLI and the web app apply to every result before calling it a χ (in Node and browsers).
 */

/** How μ should be formed, appended to both messages. */
const SIGN_HINT = 'for transmission μ = ln(I0/It), not It/I0 or ln(It/I0); for fluorescence If/I0';

/** An edge step that is an edge: positive and finite; otherwise why not, for that spectrum's error. */
export function edgeStepProblem(step: number): string | null {
  if (Number.isFinite(step) && step > 0) return null;
  return `edge step = ${step} is not positive and finite: no rising edge in μ (${SIGN_HINT})`;
}

/**
 * Whether μ has a rising edge: the steepest change of μ over the scan (dμ/dE by differences
 * across ±2 rows, the rows of a monotonic energy grid) must be a rise. Larch's pre_edge reports
 * |edge step|, so an upside-down μ (It/I0) gets a positive step and a χ of the wrong sign without
 * this check; a steep post-edge decline (the mn_cpmnco3 fixture falls by 1.2 over 650 eV) is
 * still far less steep than any edge. Returns why not, or null (also when the grid is not
 * monotonic, which the fit sorts and reports itself).
 */
export function fallingMuProblem(energy: ArrayLike<number>, mu: ArrayLike<number>, offset = 0): string | null {
  const n = energy.length;
  let rise = 0;
  let fall = 0;
  let eFall = NaN;
  const dir = Math.sign(energy[n - 1]! - energy[0]!);
  for (let i = 2; i < n - 2; i++) {
    const de = (energy[i + 2]! - energy[i - 2]!) * dir;
    if (!(de > 0)) {
      if (!Number.isNaN(de)) return null;
      continue;
    }
    const slope = ((mu[offset + i + 2]! - mu[offset + i - 2]!) * dir) / de;
    if (slope > rise) rise = slope;
    else if (-slope > fall) {
      fall = -slope;
      eFall = energy[i]!;
    }
  }
  if (!(fall > rise)) return null;
  return `μ falls at the edge: its steepest change is a fall (dμ/dE = −${fall.toPrecision(3)} per eV at ${eFall} eV; steepest rise ${rise.toPrecision(3)}) (${SIGN_HINT})`;
}
