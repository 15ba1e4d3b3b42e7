/**
 * CSV with its units: a comment header (lines starting with '#', which numpy.loadtxt,
 * pandas.read_csv(comment='#') and astropy skip) naming what made the file and, per column, the
 * unit and meaning; then one header row of column names and the rows. Non-finite values are
 * written `nan`, `inf`, `-inf`, which numpy and pandas read back as such.
 */

/** One column of numbers. */
export interface CsvColumn {
  /** Column name as Larch (or SEP/photutils) names it: k, chi, chik, energy, mu, r, chir_mag… */
  name: string;
  /** Unit, '' for a dimensionless quantity. */
  unit: string;
  /** What the column holds, a few words. */
  description: string;
  values: ArrayLike<number>;
}

/** A number as CSV text: shortest round-trip form, nan/inf for non-finite values. */
export function csvNumber(x: number): string {
  if (Number.isFinite(x)) return String(x);
  return Number.isNaN(x) ? 'nan' : x > 0 ? 'inf' : '-inf';
}

/** A text cell, quoted when it holds a separator, a quote or a line break. */
export function csvText(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The comment lines describing `columns` (name [unit]: description). */
export function unitComments(columns: readonly Pick<CsvColumn, 'name' | 'unit' | 'description'>[]): string[] {
  return columns.map((c) => `# ${c.name} [${c.unit === '' ? '1' : c.unit}]: ${c.description}`);
}

/**
 * The CSV text of equal-length `columns` (the first column's length counts; a shorter column
 * leaves empty cells), after `title` comment lines and the unit lines.
 */
export function columnsCsv(title: readonly string[], columns: readonly CsvColumn[]): string {
  const n = columns[0]?.values.length ?? 0;
  const lines = [...title.map((t) => `# ${t}`), ...unitComments(columns), columns.map((c) => c.name).join(',')];
  const row: string[] = new Array<string>(columns.length);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < columns.length; j++) {
      const v = columns[j]!.values;
      row[j] = i < v.length ? csvNumber(v[i]!) : '';
    }
    lines.push(row.join(','));
  }
  return `${lines.join('\n')}\n`;
}
