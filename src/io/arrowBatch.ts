/**
 * The batch table's columns and chunks, and their Arrow encoding: one chunk of rows as an Arrow
 * RecordBatch, and a whole run as the bytes of an Arrow IPC file. No Node built-ins, so that the
 * web app writes the same file the CLI streams to disk through src/io/batchTable.ts.
 */
import { Field, Float64, Int32, List, makeData, RecordBatch, Schema, Struct, Table, tableToIPC, Utf8, vectorFromArray, type DataType } from 'apache-arrow';

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

/**
 * The file's key-value metadata: the caller's (k_step, the command line…) plus every column's
 * unit and description as JSON under 'units' and 'descriptions'.
 */
export function tableMetadata(columns: readonly TableColumn[], metadata: Record<string, string>): Record<string, string> {
  return { ...metadata, units: JSON.stringify(Object.fromEntries(columns.map((c) => [c.name, c.unit]))), descriptions: JSON.stringify(Object.fromEntries(columns.map((c) => [c.name, c.description]))) };
}

function arrowType(kind: ColumnKind): DataType {
  if (kind === 'string') return new Utf8();
  if (kind === 'float64') return new Float64();
  if (kind === 'int32') return new Int32();
  return new List(new Field('item', new Float64(), false));
}

/** The Arrow schema of `columns` (list columns nullable, the rest not) with `meta` (tableMetadata's) attached. */
export function arrowSchema(columns: readonly TableColumn[], meta: Record<string, string>): Schema {
  return new Schema(
    columns.map((c) => new Field(c.name, arrowType(c.kind), c.kind === 'list<float64>')),
    new Map(Object.entries(meta)),
  );
}

/** One chunk as a record batch of `schema` (arrowSchema of the same `columns`); typed arrays are referenced, not copied. */
export function arrowRecordBatch(schema: Schema, columns: readonly TableColumn[], chunk: TableChunk): RecordBatch {
  const children = columns.map((c, j) => {
    const v = chunk.columns[c.name];
    if (v === undefined) throw new RangeError(`table chunk: column '${c.name}' is missing`);
    const type = schema.fields[j]!.type;
    if (c.kind === 'string') return vectorFromArray(v as string[], type as Utf8).data[0]!;
    if (c.kind === 'float64') return makeData({ type: type as Float64, length: chunk.count, data: v as Float64Array });
    if (c.kind === 'int32') return makeData({ type: type as Int32, length: chunk.count, data: v as Int32Array });
    const { values, offsets } = v as ListValues;
    const child = makeData({ type: new Float64(), length: values.length, data: values });
    return makeData({ type: type as List<Float64>, length: chunk.count, valueOffsets: offsets, child, ...(chunk.valid === undefined ? {} : { nullBitmap: bitmap(chunk.valid) }) });
  });
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: chunk.count, nullCount: 0, children }));
}

/**
 * A whole table as the bytes of an Arrow IPC file (one record batch per non-empty chunk), with
 * the schema and metadata openTable(…, 'arrow', columns, metadata) gives the streamed file.
 */
export function arrowFile(columns: readonly TableColumn[], metadata: Record<string, string>, chunks: readonly TableChunk[]): Uint8Array<ArrayBuffer> {
  const schema = arrowSchema(columns, tableMetadata(columns, metadata));
  const batches = chunks.filter((c) => c.count > 0).map((c) => arrowRecordBatch(schema, columns, c));
  // The writer joins its output into a buffer of its own (never shared memory), which a Blob takes.
  return tableToIPC(new Table(schema, batches), 'file') as Uint8Array<ArrayBuffer>;
}

/** Arrow's validity bitmap (LSB first) of 0/1 bytes. */
function bitmap(valid: Uint8Array): Uint8Array {
  const bits = new Uint8Array((valid.length + 7) >> 3);
  for (let i = 0; i < valid.length; i++) if (valid[i] !== 0) bits[i >> 3]! |= 1 << (i & 7);
  return bits;
}
