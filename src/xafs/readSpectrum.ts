/**
 * Plain-text column files: .xmu/.dat (# comments), Epics scan files (.001, ; comments) and XDI
 * (# Field.name: value headers, Column.N labels). μ may be a column or an expression over columns.
 *
 * Parsing is linear in the size of the text: lines and expression tokens are scanned by hand, and
 * the few regular expressions left are single character classes that cannot backtrack, so a hostile
 * file (a comment of 200 000 spaces, a 1 MB token) costs no more than its length.
 */

export interface ReadSpectrumOptions {
  /** Energy column: 1-based number or label (default 1). */
  energy?: number | string;
  /**
   * μ: a 1-based column number, a label, or an expression over c1…cN / labels with + − * /,
   * parentheses, ln()/log() (natural), exp(), sqrt() and sum(cA:cB). Default: column 2.
   * An expression has at most MU_EXPRESSION_MAX_LENGTH characters and nests parentheses, function
   * calls and unary minus at most MU_EXPRESSION_MAX_DEPTH deep; beyond either it is a MuExpressionError.
   */
  mu?: number | string;
  /** File name used in error messages. */
  fileName?: string;
}

/** What readSpectrum returns: energy, μ and every column of the file, with its labels and header fields. */
export interface Spectrum {
  /**
   * Energy and μ, one value per data row in file order (not sorted: autobk, preEdge and
   * cleanSpectrum sort, separate duplicates and drop non-finite rows). A value is non-finite only
   * where the file says so (nan, inf, a number beyond float64) or a μ expression makes it so
   * (ln of a value ≤ 0, a division by zero), so one bad row never fails a whole file.
   */
  energy: Float64Array;
  /** μ on the same rows: the `mu` column or expression evaluated per row. */
  mu: Float64Array;
  /** All numeric columns, each a Float64Array over the rows. */
  columns: Float64Array[];
  /** Column labels (from XDI Column.N fields or the last comment line), or c1…cN. */
  labels: string[];
  /** Header fields "Key: value" found in comment lines (XDI fields, Epics/.xmu key lines). */
  header: Record<string, string>;
}

/** Deepest nesting of parentheses, function calls and unary minus in a μ expression. */
export const MU_EXPRESSION_MAX_DEPTH = 64;
/** Longest μ expression, in characters (its cost is rows × length). */
export const MU_EXPRESSION_MAX_LENGTH = 2000;
/** Longest echo of an input token or value in an error message, in characters. */
const ECHO_MAX = 60;

/** A μ (or energy) expression that cannot be parsed, is too long or nests too deep. */
export class MuExpressionError extends SyntaxError {
  /** Always `MuExpressionError`. */
  override name = 'MuExpressionError';
}

/** `s` for an error message: cut to `max` characters, with an ellipsis and the full length. */
export function clipForMessage(s: string, max = ECHO_MAX): string {
  return s.length <= max ? s : `${s.slice(0, max)}… (${s.length} characters)`;
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
/** The characters JavaScript's \s and String.prototype.trim treat as white space. */
const isSpace = (c: number): boolean =>
  c === 32 || (c >= 9 && c <= 13) || (c > 127 && /\s/.test(String.fromCharCode(c)));

/** End of the digits of `s` starting at `i`. */
function skipDigits(s: string, i: number): number {
  while (i < s.length && isDigit(s.charCodeAt(i))) i++;
  return i;
}

/**
 * End of a decimal number (`12`, `1.5`, `.5`, `3.`, with an optional exponent `e-7`) starting at
 * `i`, without a sign; `i` itself when there is none. An `e` not followed by digits is not part of it.
 */
function scanDecimal(s: string, i: number): number {
  let j = skipDigits(s, i);
  const intDigits = j - i;
  if (j < s.length && s.charCodeAt(j) === 46) {
    const k = skipDigits(s, j + 1);
    if (intDigits === 0 && k === j + 1) return i; // a lone '.'
    j = k;
  } else if (intDigits === 0) {
    return i;
  }
  if (j < s.length && (s.charCodeAt(j) | 32) === 101) {
    let k = j + 1;
    if (k < s.length && (s.charCodeAt(k) === 43 || s.charCodeAt(k) === 45)) k++;
    const e = skipDigits(s, k);
    if (e > k) j = e;
  }
  return j;
}

/**
 * A plain decimal or scientific number (optional sign, digits, point, exponent: `-1.5e3`, `.5`,
 * `7.`), or undefined for anything else — '', hex (`0x10`), `Infinity`, `1_0`, trailing junk —
 * which Number() would turn into 0, 16, Infinity or a number silently.
 */
export function parseDecimal(s: string): number | undefined {
  const i = s.length > 0 && (s.charCodeAt(0) === 43 || s.charCodeAt(0) === 45) ? 1 : 0;
  const end = scanDecimal(s, i);
  return end > i && end === s.length ? Number(s) : undefined;
}

/** A data value: a decimal number, or nan / inf / infinity (any case, optional sign), as Larch reads them. */
function parseDataToken(s: string): number | undefined {
  const x = parseDecimal(s);
  if (x !== undefined) return x;
  const signed = s.charCodeAt(0) === 43 || s.charCodeAt(0) === 45;
  const word = (signed ? s.slice(1) : s).toLowerCase();
  if (word === 'nan') return NaN;
  if (word === 'inf' || word === 'infinity') return s.charCodeAt(0) === 45 ? -Infinity : Infinity;
  return undefined;
}

/** Tokens of a μ expression: names, numbers and the operators + - * / ( ) :, in one pass. */
function tokenize(src: string, where: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src.charCodeAt(i);
    if (isSpace(c)) {
      i++;
      continue;
    }
    let j = i + 1;
    if (((c | 32) >= 97 && (c | 32) <= 122) || c === 95) {
      while (j < src.length) {
        const d = src.charCodeAt(j);
        if (!((d | 32) >= 97 && (d | 32) <= 122) && !isDigit(d) && d !== 95 && d !== 46) break;
        j++;
      }
    } else if (isDigit(c) || c === 46) {
      j = scanDecimal(src, i);
      if (j === i) throw new MuExpressionError(`${where}: cannot parse expression '${clipForMessage(src)}' at character ${i + 1} ('.')`);
    } else if ('+-*/():'.indexOf(src[i]!) < 0) {
      throw new MuExpressionError(`${where}: cannot parse expression '${clipForMessage(src)}' at character ${i + 1} ('${clipForMessage(src.slice(i, i + 1))}')`);
    }
    tokens.push(src.slice(i, j));
    i = j;
  }
  return tokens;
}

/** One step of a compiled μ expression, in postfix order. */
type Op =
  | { kind: 'num'; value: number }
  | { kind: 'col'; index: number }
  | { kind: 'neg' }
  | { kind: '+' | '-' | '*' | '/' }
  | { kind: 'ln' | 'exp' | 'sqrt' }
  | { kind: 'sum'; from: number; to: number };

/**
 * Recursive-descent parser for the μ expression language, compiled to postfix so that evaluation
 * is a loop (a long chain `c1+c2+…` would otherwise be a tree as deep as it is long). Recursion is
 * bounded by MU_EXPRESSION_MAX_DEPTH.
 */
function compileExpression(src: string, resolve: (name: string) => number, where: string): Op[] {
  const shown = clipForMessage(src);
  if (src.length > MU_EXPRESSION_MAX_LENGTH) {
    throw new MuExpressionError(`${where}: expression '${shown}' is longer than ${MU_EXPRESSION_MAX_LENGTH} characters`);
  }
  const t = tokenize(src, where);
  const ops: Op[] = [];
  let p = 0;
  let depth = 0;
  const peek = (): string | undefined => t[p];
  const at = (): string => (t[p] === undefined ? 'end' : `'${clipForMessage(t[p]!)}'`);
  const expect = (s: string): void => {
    if (t[p] !== s) throw new MuExpressionError(`${where}: expected '${s}' in expression '${shown}' at ${at()}`);
    p++;
  };
  const nested = <T>(f: () => T): T => {
    if (++depth > MU_EXPRESSION_MAX_DEPTH) {
      throw new MuExpressionError(`${where}: expression '${shown}' nests deeper than ${MU_EXPRESSION_MAX_DEPTH} levels`);
    }
    const r = f();
    depth--;
    return r;
  };
  const sum = (): void => {
    product();
    while (peek() === '+' || peek() === '-') {
      const kind = t[p++] as '+' | '-';
      product();
      ops.push({ kind });
    }
  };
  const product = (): void => {
    unary();
    while (peek() === '*' || peek() === '/') {
      const kind = t[p++] as '*' | '/';
      unary();
      ops.push({ kind });
    }
  };
  const unary = (): void => {
    if (peek() === '-') {
      p++;
      nested(unary);
      ops.push({ kind: 'neg' });
      return;
    }
    if (peek() === '+') p++;
    primary();
  };
  const primary = (): void => {
    const tok = t[p++];
    if (tok === undefined) throw new MuExpressionError(`${where}: expression '${shown}' ends unexpectedly`);
    if (tok === '(') {
      nested(sum);
      expect(')');
      return;
    }
    const c = tok.charCodeAt(0);
    if (isDigit(c) || c === 46) {
      ops.push({ kind: 'num', value: Number(tok) });
      return;
    }
    const lower = tok.toLowerCase();
    if (peek() === '(' && (lower === 'ln' || lower === 'log' || lower === 'exp' || lower === 'sqrt' || lower === 'sum')) {
      p++;
      if (lower === 'sum') {
        const from = resolve(t[p++] ?? '');
        expect(':');
        const to = resolve(t[p++] ?? '');
        expect(')');
        if (to < from) throw new RangeError(`${where}: sum(${from + 1}:${to + 1}) has its columns in the wrong order`);
        ops.push({ kind: 'sum', from, to });
        return;
      }
      nested(sum);
      expect(')');
      ops.push({ kind: lower === 'log' ? 'ln' : (lower as 'ln' | 'exp' | 'sqrt') });
      return;
    }
    if ('+-*/():'.includes(tok)) throw new MuExpressionError(`${where}: unexpected '${tok}' in expression '${shown}'`);
    ops.push({ kind: 'col', index: resolve(tok) });
  };
  sum();
  if (p !== t.length) throw new MuExpressionError(`${where}: unexpected ${at()} in expression '${shown}'`);
  return ops;
}

/** The value of a compiled expression on every row. */
function evaluate(ops: Op[], nrow: number, cols: Float64Array[]): Float64Array {
  const out = new Float64Array(nrow);
  const stack = new Float64Array(ops.length);
  for (let r = 0; r < nrow; r++) {
    let sp = 0;
    for (const op of ops) {
      switch (op.kind) {
        case 'num': stack[sp++] = op.value; break;
        case 'col': stack[sp++] = cols[op.index]![r]!; break;
        case 'sum': {
          let s = 0;
          for (let c = op.from; c <= op.to; c++) s += cols[c]![r]!;
          stack[sp++] = s;
          break;
        }
        case 'neg': stack[sp - 1] = -stack[sp - 1]!; break;
        case 'ln': stack[sp - 1] = Math.log(stack[sp - 1]!); break;
        case 'exp': stack[sp - 1] = Math.exp(stack[sp - 1]!); break;
        case 'sqrt': stack[sp - 1] = Math.sqrt(stack[sp - 1]!); break;
        default: {
          const b = stack[--sp]!;
          const a = stack[sp - 1]!;
          stack[sp - 1] = op.kind === '+' ? a + b : op.kind === '-' ? a - b : op.kind === '*' ? a * b : a / b;
        }
      }
    }
    out[r] = stack[0]!;
  }
  return out;
}

/** "Key: value" or "Key = value" of a comment body (a key starts with a letter or %), or null. */
function headerField(body: string): [string, string] | null {
  let sep = -1;
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c === 58 || c === 61) {
      sep = i;
      break;
    }
  }
  if (sep < 1) return null;
  const key = body.slice(0, sep).trim();
  // One character class under a star, anchored at both ends: no backtracking beyond one pass.
  if (!/^[A-Za-z%][\w.\-%/ ]*$/.test(key)) return null;
  return [key, body.slice(sep + 1).trim()];
}

/** A comment line's body: without its leading #/; characters and surrounding white space. */
function commentBody(line: string): string {
  let i = 0;
  while (i < line.length && (line.charCodeAt(i) === 35 || line.charCodeAt(i) === 59)) i++;
  return line.slice(i).trim();
}

/** Up to 12 labels for a message about an unknown column. */
function listLabels(labels: string[]): string {
  const shown = labels.slice(0, 12).map((l) => clipForMessage(l, 20)).join(', ');
  return labels.length > 12 ? `${shown}, … (${labels.length} in all)` : shown;
}

/** Parses a column file; see ReadSpectrumOptions for how energy and μ are chosen. */
export function readSpectrum(text: string, options: ReadSpectrumOptions = {}): Spectrum {
  const file = clipForMessage(options.fileName ?? 'spectrum', 120);
  // CR LF, LF and a lone CR (classic Mac files) all end a line.
  const lines = text.split(/\r\n|\r|\n/);
  const header: Record<string, string> = {};
  const xdiLabels = new Map<number, string>();
  let lastComment = '';
  const rows: number[][] = [];
  let ncol = 0;
  let firstDataLine = 0;
  for (let ln = 0; ln < lines.length; ln++) {
    const line = lines[ln]!.trim();
    if (line === '') continue;
    if (line.startsWith('#') || line.startsWith(';')) {
      if (rows.length > 0) continue; // comments after the data carry no header fields or labels
      const body = commentBody(line);
      const kv = headerField(body);
      if (kv !== null) {
        header[kv[0]] = kv[1];
        const col = /^column\.(\d+)$/i.exec(kv[0]);
        if (col !== null) xdiLabels.set(Number(col[1]), kv[1].split(/\s+/)[0]!.toLowerCase());
      }
      if (body !== '' && !/^[-=*]+$/.test(body)) lastComment = body;
      continue;
    }
    // Fields are separated by white space and commas; a leading or trailing comma adds no column.
    const fields = line.split(/[\s,]+/).filter((f) => f !== '');
    const values: number[] = [];
    let bad = -1;
    for (let i = 0; i < fields.length; i++) {
      const v = parseDataToken(fields[i]!);
      if (v === undefined) {
        bad = i;
        break;
      }
      values.push(v);
    }
    if (bad >= 0) {
      if (rows.length === 0) continue; // a non-comment text header line (e.g. a title) before the data
      throw new RangeError(`${file}: line ${ln + 1}, column ${bad + 1}: '${clipForMessage(fields[bad]!)}' is not a number`);
    }
    if (rows.length === 0) {
      if (values.length === 0) continue; // a line of commas only
      ncol = values.length;
      firstDataLine = ln + 1;
    } else if (values.length !== ncol) {
      throw new RangeError(`${file}: line ${ln + 1} has ${values.length} columns, but the first data row (line ${firstDataLine}) has ${ncol}`);
    }
    rows.push(values);
  }
  if (rows.length === 0) throw new RangeError(`${file}: no numeric data rows found (${lines.length} lines)`);
  const nrow = rows.length;
  const columns: Float64Array[] = [];
  for (let c = 0; c < ncol; c++) {
    const col = new Float64Array(nrow);
    for (let r = 0; r < nrow; r++) col[r] = rows[r]![c]!;
    columns.push(col);
  }
  let labels: string[];
  const commentLabels = lastComment.split(/\s+/).map((s) => s.toLowerCase());
  if (xdiLabels.size === ncol && columns.every((_, i) => xdiLabels.has(i + 1))) labels = columns.map((_, i) => xdiLabels.get(i + 1)!);
  else if (commentLabels.length === ncol) labels = commentLabels;
  else labels = columns.map((_, i) => `c${i + 1}`);

  const resolve = (name: string): number => {
    const cn = /^c(\d+)$/i.exec(name);
    let idx = cn !== null ? Number(cn[1]) - 1 : labels.indexOf(name.toLowerCase());
    if (cn === null && idx < 0 && /^\d+$/.test(name)) idx = Number(name) - 1;
    if (!(idx >= 0 && idx < ncol)) {
      throw new RangeError(`${file}: unknown column '${clipForMessage(name)}' (the file has ${ncol} columns: ${listLabels(labels)})`);
    }
    return idx;
  };
  const pick = (spec: number | string, what: string): Float64Array => {
    if (typeof spec === 'number') {
      if (!(Number.isInteger(spec) && spec >= 1 && spec <= ncol)) {
        throw new RangeError(`${file}: ${what} column ${spec} does not exist (the file has ${ncol} columns)`);
      }
      return columns[spec - 1]!;
    }
    const trimmed = spec.trim();
    if (/^\d+$/.test(trimmed)) return pick(Number(trimmed), what);
    const ops = compileExpression(trimmed, resolve, `${file}: ${what}`);
    if (ops.length === 1 && ops[0]!.kind === 'col') return columns[ops[0]!.index]!;
    return evaluate(ops, nrow, columns);
  };
  const energy = pick(options.energy ?? 1, 'energy');
  const mu = pick(options.mu ?? (ncol >= 2 ? 2 : 1), 'mu');
  return { energy, mu, columns, labels, header };
}

/**
 * Evaluates a μ expression (the language of ReadSpectrumOptions.mu) element by element over
 * named columns of equal length: a name is one of `labels` (any case) or cN (1-based). Readers
 * of other formats (HDF5) use it so that `--mu` means the same everywhere.
 * @param where prefix of error messages (file and option).
 */
export function evaluateMuExpression(expression: string, columns: readonly Float64Array[], labels: readonly string[], where: string): Float64Array {
  const lower = labels.map((l) => l.toLowerCase());
  const resolve = (name: string): number => {
    const cn = /^c(\d+)$/i.exec(name);
    const idx = cn !== null ? Number(cn[1]) - 1 : lower.indexOf(name.toLowerCase());
    if (!(idx >= 0 && idx < columns.length)) throw new RangeError(`${where}: unknown name '${clipForMessage(name)}' (known: ${listLabels([...labels])})`);
    return idx;
  };
  const ops = compileExpression(expression.trim(), resolve, where);
  return evaluate(ops, columns[0]?.length ?? 0, [...columns]);
}
