/**
 * Batch results as a columnar file, one row per spectrum (or star), written chunk by chunk as a
 * batch streams its results, so that a run of any length holds one chunk in memory: Arrow IPC
 * (apache-arrow, one record batch per chunk) or Parquet (hyparquet-writer, one row group per
 * chunk). Measured on 2 000 Cu-foil spectra (energy, bkg, chi, chir_mag lists): Arrow 24.1 MB in
 * 0.15–0.45 s, Parquet (snappy) 17.1 MB in 2.9–6 s — Arrow keeps up with the GPU's fit rate,
 * Parquet is 29 % smaller for archives; hence Arrow by default. Scalar columns are typed arrays or strings; list columns (χ(k), bkg…) arrive as one
 * flat Float64Array and row offsets, the layout Arrow itself uses.
 */
import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { Field, Float64, Int32, List, makeData, RecordBatch, RecordBatchFileWriter, Schema, Struct, Utf8, vectorFromArray, type DataType } from 'apache-arrow';
import { fileWriter, ParquetWriter } from 'hyparquet-writer';

/** The kinds of column a table holds. */
export type ColumnKind = 'string' | 'float64' | 'int32' | 'list<float64>';

/** A column of the table: its name, kind, unit ('' when dimensionless) and meaning. */
export interface TableColumn {
  name: string;
  kind: ColumnKind;
  unit: string;
  description: string;
}

/** A list column's values: row i is values[offsets[i] … offsets[i+1]); a row with valid[i] = 0 is null. */
export interface ListValues {
  values: Float64Array;
  offsets: Int32Array;
}

/** One chunk of rows: a value per column name (strings, typed arrays or lists); `valid` marks null list rows with 0. */
export interface TableChunk {
  count: number;
  columns: Record<string, readonly string[] | Float64Array | Int32Array | ListValues>;
  /** Rows whose list columns are null (a failed spectrum): 0; default all valid. */
  valid?: Uint8Array;
}

/** A file being written: chunks in order, then close (which writes the footer). */
export interface TableWriter {
  write(chunk: TableChunk): Promise<void>;
  close(): Promise<void>;
}

/** The columnar file formats: Apache Parquet and the Arrow IPC file format (Feather v2). */
export type TableFormat = 'parquet' | 'arrow';

/**
 * Opens `path` for `columns` in `format`; `metadata` goes into the file's key-value metadata
 * (units as JSON under 'units', and whatever the caller adds: kstep, the command line…).
 */
export function openTable(path: string, format: TableFormat, columns: readonly TableColumn[], metadata: Record<string, string>): TableWriter {
  const meta = { ...metadata, units: JSON.stringify(Object.fromEntries(columns.map((c) => [c.name, c.unit]))), descriptions: JSON.stringify(Object.fromEntries(columns.map((c) => [c.name, c.description]))) };
  return format === 'parquet' ? parquetTable(path, columns, meta) : arrowTable(path, columns, meta);
}

function parquetTable(path: string, columns: readonly TableColumn[], meta: Record<string, string>): TableWriter {
  const schema: ConstructorParameters<typeof ParquetWriter>[0]['schema'] = [{ name: 'root', num_children: columns.length }];
  for (const c of columns) {
    if (c.kind === 'string') schema.push({ name: c.name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' });
    else if (c.kind === 'float64') schema.push({ name: c.name, type: 'DOUBLE', repetition_type: 'REQUIRED' });
    else if (c.kind === 'int32') schema.push({ name: c.name, type: 'INT32', repetition_type: 'REQUIRED' });
    else {
      // The three-level LIST layout of the Parquet spec, which pyarrow and hyparquet read as a list.
      schema.push({ name: c.name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 });
      schema.push({ name: 'list', repetition_type: 'REPEATED', num_children: 1 });
      schema.push({ name: 'element', type: 'DOUBLE', repetition_type: 'REQUIRED' });
    }
  }
  const writer = new ParquetWriter({
    writer: fileWriter(path),
    schema,
    kvMetadata: Object.entries(meta).map(([key, value]) => ({ key, value })),
    createdBy: 'batchfit (hyparquet-writer)',
  });
  return {
    async write(chunk) {
      if (chunk.count === 0) return;
      const columnData = columns.map((c) => {
        const v = chunk.columns[c.name]!;
        if (c.kind !== 'list<float64>') return { name: c.name, data: v as string[] | Float64Array | Int32Array };
        // hyparquet-writer's nesting encoder takes plain arrays for repeated fields.
        const { values, offsets } = v as ListValues;
        const rows: (number[] | null)[] = new Array(chunk.count);
        for (let i = 0; i < chunk.count; i++) rows[i] = chunk.valid !== undefined && chunk.valid[i] === 0 ? null : Array.from(values.subarray(offsets[i]!, offsets[i + 1]!));
        return { name: c.name, data: rows };
      });
      await writer.write({ columnData, rowGroupSize: chunk.count });
    },
    async close() {
      await writer.finish();
    },
  };
}

function arrowType(kind: ColumnKind): DataType {
  if (kind === 'string') return new Utf8();
  if (kind === 'float64') return new Float64();
  if (kind === 'int32') return new Int32();
  return new List(new Field('item', new Float64(), false));
}

function arrowTable(path: string, columns: readonly TableColumn[], meta: Record<string, string>): TableWriter {
  const schema = new Schema(
    columns.map((c) => new Field(c.name, arrowType(c.kind), c.kind === 'list<float64>')),
    new Map(Object.entries(meta)),
  );
  const writer = new RecordBatchFileWriter();
  const out = createWriteStream(path);
  writer.toNodeStream().pipe(out);
  return {
    async write(chunk) {
      if (chunk.count === 0) return;
      const children = columns.map((c, j) => {
        const v = chunk.columns[c.name]!;
        const type = schema.fields[j]!.type;
        if (c.kind === 'string') return vectorFromArray(v as string[], type as Utf8).data[0]!;
        if (c.kind === 'float64') return makeData({ type: type as Float64, length: chunk.count, data: v as Float64Array });
        if (c.kind === 'int32') return makeData({ type: type as Int32, length: chunk.count, data: v as Int32Array });
        const { values, offsets } = v as ListValues;
        const child = makeData({ type: new Float64(), length: values.length, data: values });
        return makeData({ type: type as List<Float64>, length: chunk.count, valueOffsets: offsets, child, ...(chunk.valid === undefined ? {} : { nullBitmap: bitmap(chunk.valid) }) });
      });
      writer.write(new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: chunk.count, nullCount: 0, children })));
      // Let the file stream drain what this batch queued before the next chunk arrives.
      await new Promise((resolve) => setImmediate(resolve));
    },
    async close() {
      writer.finish();
      await finished(out);
    },
  };
}

/** Arrow's validity bitmap (LSB first) of 0/1 bytes. */
function bitmap(valid: Uint8Array): Uint8Array {
  const bits = new Uint8Array((valid.length + 7) >> 3);
  for (let i = 0; i < valid.length; i++) if (valid[i] !== 0) bits[i >> 3]! |= 1 << (i & 7);
  return bits;
}
