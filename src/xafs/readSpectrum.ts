/**
 * Plain-text column files: .xmu/.dat (# comments), Epics scan files (.001, ; comments) and XDI
 * (# Field.name: value headers, Column.N labels). μ may be a column or an expression over columns.
 */

export interface ReadSpectrumOptions {
  /** Energy column: 1-based number or label (default 1). */
  energy?: number | string;
  /**
   * μ: a 1-based column number, a label, or an expression over c1…cN / labels with + − * /,
   * parentheses, ln()/log() (natural), exp(), sqrt() and sum(cA:cB). Default: column 2.
   */
  mu?: number | string;
  /** File name used in error messages. */
  fileName?: string;
}

export interface Spectrum {
  energy: Float64Array;
  mu: Float64Array;
  /** All numeric columns, each a Float64Array over the rows. */
  columns: Float64Array[];
  /** Column labels (from XDI Column.N fields or the last comment line), or c1…cN. */
  labels: string[];
  /** Header fields "Key: value" found in comment lines (XDI fields, Epics/.xmu key lines). */
  header: Record<string, string>;
}

type Expr =
  | { kind: 'num'; value: number }
  | { kind: 'col'; index: number }
  | { kind: 'neg'; arg: Expr }
  | { kind: 'bin'; op: '+' | '-' | '*' | '/'; left: Expr; right: Expr }
  | { kind: 'fn'; name: 'ln' | 'exp' | 'sqrt'; arg: Expr }
  | { kind: 'sum'; from: number; to: number };

/** Recursive-descent parser for the μ expression language. */
function parseExpression(src: string, resolve: (name: string) => number, where: string): Expr {
  const tokens = src.match(/\s*([A-Za-z_][A-Za-z0-9_.]*|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|[-+*/():])/g);
  if (tokens === null || tokens.join('').replace(/\s+/g, '') !== src.replace(/\s+/g, '')) {
    throw new SyntaxError(`${where}: cannot parse mu expression '${src}'`);
  }
  const t = tokens.map((s) => s.trim());
  let p = 0;
  const peek = (): string | undefined => t[p];
  const expect = (s: string): void => {
    if (t[p] !== s) throw new SyntaxError(`${where}: expected '${s}' in mu expression '${src}' at '${t[p] ?? 'end'}'`);
    p++;
  };
  const sum = (): Expr => {
    let e = product();
    while (peek() === '+' || peek() === '-') {
      const op = t[p++] as '+' | '-';
      e = { kind: 'bin', op, left: e, right: product() };
    }
    return e;
  };
  const product = (): Expr => {
    let e = unary();
    while (peek() === '*' || peek() === '/') {
      const op = t[p++] as '*' | '/';
      e = { kind: 'bin', op, left: e, right: unary() };
    }
    return e;
  };
  const unary = (): Expr => {
    if (peek() === '-') {
      p++;
      return { kind: 'neg', arg: unary() };
    }
    if (peek() === '+') p++;
    return primary();
  };
  const primary = (): Expr => {
    const tok = t[p++];
    if (tok === undefined) throw new SyntaxError(`${where}: mu expression '${src}' ends unexpectedly`);
    if (tok === '(') {
      const e = sum();
      expect(')');
      return e;
    }
    if (/^[\d.]/.test(tok)) return { kind: 'num', value: Number(tok) };
    const lower = tok.toLowerCase();
    if (peek() === '(' && ['ln', 'log', 'exp', 'sqrt', 'sum'].includes(lower)) {
      p++;
      if (lower === 'sum') {
        const from = resolve(t[p++] ?? '');
        expect(':');
        const to = resolve(t[p++] ?? '');
        expect(')');
        if (to < from) throw new RangeError(`${where}: sum(${from + 1}:${to + 1}) has its columns in the wrong order`);
        return { kind: 'sum', from, to };
      }
      const arg = sum();
      expect(')');
      return { kind: 'fn', name: lower === 'log' ? 'ln' : (lower as 'ln' | 'exp' | 'sqrt'), arg };
    }
    return { kind: 'col', index: resolve(tok) };
  };
  const e = sum();
  if (p !== t.length) throw new SyntaxError(`${where}: unexpected '${t[p]}' in mu expression '${src}'`);
  return e;
}

function evaluate(e: Expr, row: number, cols: Float64Array[]): number {
  switch (e.kind) {
    case 'num':
      return e.value;
    case 'col':
      return cols[e.index]![row]!;
    case 'neg':
      return -evaluate(e.arg, row, cols);
    case 'bin': {
      const a = evaluate(e.left, row, cols);
      const b = evaluate(e.right, row, cols);
      return e.op === '+' ? a + b : e.op === '-' ? a - b : e.op === '*' ? a * b : a / b;
    }
    case 'fn': {
      const a = evaluate(e.arg, row, cols);
      return e.name === 'ln' ? Math.log(a) : e.name === 'exp' ? Math.exp(a) : Math.sqrt(a);
    }
    case 'sum': {
      let s = 0;
      for (let c = e.from; c <= e.to; c++) s += cols[c]![row]!;
      return s;
    }
  }
}

/** Parses a column file; see ReadSpectrumOptions for how energy and μ are chosen. */
export function readSpectrum(text: string, options: ReadSpectrumOptions = {}): Spectrum {
  const file = options.fileName ?? 'spectrum';
  const lines = text.split(/\r?\n/);
  const header: Record<string, string> = {};
  const xdiLabels: string[] = [];
  let lastComment = '';
  const rows: number[][] = [];
  let ncol = 0;
  let firstDataLine = 0;
  for (let ln = 0; ln < lines.length; ln++) {
    const raw = lines[ln]!;
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#') || line.startsWith(';')) {
      const body = line.replace(/^[#;]+/, '').trim();
      const kv = /^([A-Za-z%][\w.\-%/ ]*?)\s*[:=]\s*(.*)$/.exec(body);
      if (kv !== null && rows.length === 0) {
        const key = kv[1]!.trim();
        header[key] = kv[2]!.trim();
        const col = /^column\.(\d+)$/i.exec(key);
        if (col !== null) xdiLabels[Number(col[1]) - 1] = kv[2]!.trim().split(/\s+/)[0]!.toLowerCase();
      }
      if (rows.length === 0 && body !== '' && !/^[-=*]+$/.test(body)) lastComment = body;
      continue;
    }
    const fields = line.split(/[\s,]+/);
    const values = fields.map(Number);
    const bad = values.findIndex((v, i) => Number.isNaN(v) && !/^nan$/i.test(fields[i]!));
    if (bad >= 0) {
      if (rows.length === 0) continue; // a non-comment text header line (e.g. a title) before the data
      throw new RangeError(`${file}: line ${ln + 1}, column ${bad + 1}: '${fields[bad]}' is not a number`);
    }
    if (rows.length === 0) {
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
  if (xdiLabels.length === ncol && xdiLabels.every((s) => s !== undefined)) labels = xdiLabels;
  else if (commentLabels.length === ncol) labels = commentLabels;
  else labels = columns.map((_, i) => `c${i + 1}`);

  const resolve = (name: string): number => {
    const cn = /^c(\d+)$/i.exec(name);
    let idx = cn !== null ? Number(cn[1]) - 1 : labels.indexOf(name.toLowerCase());
    if (cn === null && idx < 0 && /^\d+$/.test(name)) idx = Number(name) - 1;
    if (!(idx >= 0 && idx < ncol)) {
      throw new RangeError(`${file}: unknown column '${name}' (the file has ${ncol} columns: ${labels.join(', ')})`);
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
    const expr = parseExpression(trimmed, resolve, `${file}: ${what}`);
    if (expr.kind === 'col') return columns[expr.index]!;
    const out = new Float64Array(nrow);
    for (let r = 0; r < nrow; r++) out[r] = evaluate(expr, r, columns);
    return out;
  };
  const energy = pick(options.energy ?? 1, 'energy');
  const mu = pick(options.mu ?? (ncol >= 2 ? 2 : 1), 'mu');
  return { energy, mu, columns, labels, header };
}
