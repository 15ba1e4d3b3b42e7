// The Node Arrow writer (openTable 'arrow', openArrowFile): every batch is in the file when
// write returns, so a slow disk never lets batches pile up in memory; a table with no rows is
// still a valid file with its schema.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { afterAll, expect, it } from 'vitest';
import { arrowFile, type TableColumn } from '../../src/io/arrowBatch.js';
import { openTable } from '../../src/io/batchTable.js';

const COLUMNS: readonly TableColumn[] = [
  { name: 'x', kind: 'float64', unit: 'eV', description: 'a value' },
  { name: 'y', kind: 'list<float64>', unit: 'Å', description: 'a list' },
];
const dir = mkdtempSync(join(tmpdir(), 'batchfit-table-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('each chunk is in the file when write returns', async () => {
  const path = join(dir, 'grow.arrow');
  const table = openTable(path, 'arrow', COLUMNS, {});
  const sizes = [statSync(path).size];
  const n = 4096;
  for (let c = 0; c < 3; c++) {
    const offsets = Int32Array.from({ length: n + 1 }, (_, i) => 10 * i);
    await table.write({ count: n, columns: { x: new Float64Array(n).fill(c), y: { values: new Float64Array(10 * n).fill(c), offsets } } });
    sizes.push(statSync(path).size);
  }
  await table.close();
  // Each chunk carries 11·4096 doubles (≈ 360 KB) plus its offsets: all of it on disk at once.
  for (let c = 1; c < sizes.length; c++) expect(sizes[c]! - sizes[c - 1]!).toBeGreaterThan(11 * n * 8);
  const t = tableFromIPC(readFileSync(path));
  expect(t.numRows).toBe(3 * n);
  expect(t.getChild('x')!.get(2 * n)).toBe(2);
});

it('a table with no rows is a valid file with its schema, as arrowFile makes it', async () => {
  const path = join(dir, 'empty.arrow');
  const table = openTable(path, 'arrow', COLUMNS, { k_step: '0.05' });
  await table.close();
  const bytes = readFileSync(path);
  const t = tableFromIPC(bytes);
  expect(t.numRows).toBe(0);
  expect(t.schema.fields.map((f) => f.name)).toEqual(['x', 'y']);
  expect(t.schema.metadata.get('k_step')).toBe('0.05');
  expect(bytes.equals(arrowFile(COLUMNS, { k_step: '0.05' }, []))).toBe(true);
});
