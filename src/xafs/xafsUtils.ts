/** XAFS constants and Larch's input cleaning (sort, separate duplicates, drop non-finite rows). */
import { arrayOf } from './validate.js';

/**
 * eV·Å² per Å⁻²: k = √(ETOK·(E − E0)). The CODATA-2018 value (scipy 1.10), which the Larch
 * reference outputs were made with; CODATA 2022 differs by 1.4e-9 relative.
 */
export const ETOK = 0.2624684236075176;
/** eV·Å² : E − E0 = KTOE·k², the inverse of ETOK (Larch's KTOE). */
export const KTOE = 1 / ETOK;
/** Larch's separation for repeated energies (eV). */
export const TINY_ENERGY = 0.0005;

/**
 * Larch's remove_dups: values within `tiny` of their predecessor are moved up by `tiny` more than
 * the predecessor was, so runs x, x, x become x, x+tiny, x+2·tiny. Returns a new array when
 * anything changed, else the input.
 */
export function removeDups(a: Float64Array, tiny = TINY_ENERGY): Float64Array {
  const n = a.length;
  let minDiff = Infinity;
  for (let i = 1; i < n; i++) minDiff = Math.min(minDiff, a[i]! - a[i - 1]!);
  if (n < 2 || minDiff > 10 * tiny) return a;
  const out = Float64Array.from(a);
  let add = 0;
  for (let i = 1; i < n; i++) {
    add = Math.abs(a[i]! - a[i - 1]!) < tiny ? add + tiny : 0;
    out[i] = a[i]! + add;
  }
  return out;
}

/** A spectrum cleaned as Larch cleans it (cleanSpectrum), with what the cleaning did. */
export interface CleanSpectrum {
  /** Energies (eV), sorted, duplicates separated by TINY_ENERGY, finite. */
  energy: Float64Array;
  /** μ on `energy`. */
  mu: Float64Array;
  /** Rows dropped because energy or mu was not finite. */
  droppedNonFinite: number;
  /** Whether the energies had to be sorted. */
  sorted: boolean;
  /** Energies moved by removeDups. */
  separatedDuplicates: number;
}

/**
 * Validates and cleans (energy, mu) as Larch's pre_edge does: drop non-finite pairs, sort by
 * energy when out of order (stable), separate duplicate energies. Inputs are never modified;
 * each must be an array or typed array of numbers (an entry that is not a number is dropped as
 * non-finite).
 */
export function cleanSpectrum(energyIn: ArrayLike<number>, muIn: ArrayLike<number>, what = 'spectrum'): CleanSpectrum {
  const energy = arrayOf(what, 'energy', energyIn);
  const mu = arrayOf(what, 'mu', muIn);
  if (energy.length !== mu.length) {
    throw new RangeError(`${what}: energy has ${energy.length} points but mu has ${mu.length}`);
  }
  const n = energy.length;
  let finite = 0;
  let ordered = true;
  let prev = -Infinity;
  for (let i = 0; i < n; i++) {
    const e = energy[i]!;
    if (Number.isFinite(e) && Number.isFinite(mu[i]!)) {
      finite++;
      if (e < prev) ordered = false;
      prev = e;
    }
  }
  if (finite === 0) throw new RangeError(`${what}: no row has a finite energy and mu (${n} rows)`);
  const e = new Float64Array(finite);
  const m = new Float64Array(finite);
  if (finite === n && ordered) {
    // The usual case: a plain copy, no index array.
    for (let j = 0; j < n; j++) {
      e[j] = energy[j]!;
      m[j] = mu[j]!;
    }
  } else {
    const idx = new Int32Array(finite);
    for (let i = 0, j = 0; i < n; i++) if (Number.isFinite(energy[i]!) && Number.isFinite(mu[i]!)) idx[j++] = i;
    if (!ordered) {
      const order = Array.from(idx).sort((p, q) => energy[p]! - energy[q]! || p - q);
      idx.set(order);
    }
    for (let j = 0; j < finite; j++) {
      e[j] = energy[idx[j]!]!;
      m[j] = mu[idx[j]!]!;
    }
  }
  const ed = removeDups(e);
  let separated = 0;
  if (ed !== e) {
    for (let j = 0; j < finite; j++) if (ed[j] !== e[j]) separated++;
    // Larch's separation assumes gaps well above 0.0005 eV; denser grids would come out unordered.
    for (let j = 1; j < finite; j++) {
      if (!(ed[j]! > ed[j - 1]!)) {
        throw new RangeError(`${what}: energies ${e[j - 1]} and ${e[j]} are closer than ${TINY_ENERGY} eV to their neighbours and cannot be separated`);
      }
    }
  }
  return { energy: ed, mu: m, droppedNonFinite: n - finite, sorted: !ordered, separatedDuplicates: separated };
}

/** k(E) = sign(E − e0)·√(ETOK·|E − e0|). */
export function energyToK(e: number, e0: number): number {
  const d = e - e0;
  return Math.sign(d) * Math.sqrt(ETOK * Math.abs(d));
}
