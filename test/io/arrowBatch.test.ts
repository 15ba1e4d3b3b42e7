// The browser-safe encoder (arrowFile) against the Node file writer (openTable 'arrow'): the same
// chunks must give the same bytes, so the web app's batch file is the CLI's.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { expect, it } from 'vitest';
import { arrowFile, type TableChunk, type TableColumn } from '../../src/io/arrowBatch.js';
import { openTable } from '../../src/io/batchTable.js';

const COLUMNS: readonly TableColumn[] = [
  { name: 'name', kind: 'string', unit: '', description: 'label' },
  { name: 'n', kind: 'int32', unit: '', description: 'count' },
  { name: 'x', kind: 'float64', unit: 'eV', description: 'a value' },
  { name: 'y', kind: 'list<float64>', unit: 'Å', description: 'a list' },
];

const CHUNKS: TableChunk[] = [
  { count: 2, columns: { name: ['a', 'b'], n: Int32Array.of(1, 2), x: Float64Array.of(0.5, NaN), y: { values: Float64Array.of(1, 2, 3), offsets: Int32Array.of(0, 3, 3) } }, valid: Uint8Array.of(1, 0) },
  { count: 0, columns: { name: [], n: new Int32Array(0), x: new Float64Array(0), y: { values: new Float64Array(0), offsets: Int32Array.of(0) } } },
  { count: 1, columns: { name: ['c'], n: Int32Array.of(3), x: Float64Array.of(-1e-300), y: { values: Float64Array.of(Math.PI), offsets: Int32Array.of(0, 1) } } },
];

it('arrowFile gives the bytes openTable(…, "arrow") streams to disk', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'batchfit-arrow-'));
  try {
    const path = join(dir, 't.arrow');
    const meta = { k_step: '0.05', created_by: 'test' };
    const table = openTable(path, 'arrow', COLUMNS, meta);
    for (const c of CHUNKS) await table.write(c);
    await table.close();
    const bytes = arrowFile(COLUMNS, meta, CHUNKS);
    expect(Buffer.from(bytes).equals(readFileSync(path))).toBe(true);
    const t = tableFromIPC(bytes);
    expect(t.numRows).toBe(3);
    expect(t.schema.fields.map((f) => f.name)).toEqual(['name', 'n', 'x', 'y']);
    expect(JSON.parse(t.schema.metadata.get('units')!)).toEqual({ name: '', n: '', x: 'eV', y: 'Å' });
    expect(t.getChild('y')!.get(1)).toBeNull();
    expect(Array.from(t.getChild('y')!.get(2)!)).toEqual([Math.PI]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('arrowFile names a missing column', () => {
  expect(() => arrowFile(COLUMNS, {}, [{ count: 1, columns: { name: ['a'], n: Int32Array.of(1), x: Float64Array.of(1) } }])).toThrow(/column 'y' is missing/);
});
