/**
 * Generated series files for the shard tests: the Ru K-edge quick scan of test/fixtures/xafs
 * (Ru_QAS.dat, μ = ln(c2/c3)) plus Gaussian noise of 1e-3 edge steps, one seed per spectrum, as
 * column files (energy, then one μ column per spectrum). Every `badEvery`-th spectrum is a dead
 * channel (constant μ): an item that fails with status 'error' while the others are fitted.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { preEdge, readSpectrum } from '../../src/xafs/index.js';
import { gaussian, mulberry32 } from '../util/random.js';

const root = join(import.meta.dirname, '..', '..');

export interface SeriesFile {
  path: string;
  spectra: number;
}

/** Writes `files` series files of `perFile` spectra each into `dir`; spectrum s (job-wide) uses seed s + 1. */
export function writeRuSeries(dir: string, files: number, perFile: number, badEvery = 97): SeriesFile[] {
  const ru = readSpectrum(readFileSync(join(root, 'test', 'fixtures', 'xafs', 'Ru_QAS.dat'), 'utf8'), { mu: 'log(c2/c3)', fileName: 'Ru_QAS.dat' });
  const step = preEdge(ru.energy, ru.mu).edgeStep;
  const ne = ru.energy.length;
  const out: SeriesFile[] = [];
  const row = new Float64Array(perFile);
  for (let f = 0; f < files; f++) {
    const cols = new Float64Array(perFile * ne);
    for (let s = 0; s < perFile; s++) {
      const job = f * perFile + s;
      const g = gaussian(mulberry32(job + 1));
      for (let i = 0; i < ne; i++) cols[s * ne + i] = job % badEvery === badEvery - 1 ? 1.5 : ru.mu[i]! + 1e-3 * step * g();
    }
    const lines = [`# energy ${Array.from({ length: perFile }, (_, s) => `mu_${String(f * perFile + s).padStart(6, '0')}`).join(' ')}`];
    for (let i = 0; i < ne; i++) {
      for (let s = 0; s < perFile; s++) row[s] = cols[s * ne + i]!;
      lines.push(`${ru.energy[i]} ${Array.from(row, (x) => x.toPrecision(9)).join(' ')}`);
    }
    const path = join(dir, `series-${String(f).padStart(2, '0')}.dat`);
    writeFileSync(path, `${lines.join('\n')}\n`);
    out.push({ path, spectra: perFile });
  }
  return out;
}
