/**
 * Athena project files (`.prj`): gzip-compressed or plain, in either of the two styles Athena
 * (Demeter) and Larch write: the Perl `Data::Dumper` style (`$old_group = '…'; @args = (…);
 * @x = (…); … [record]`) and the JSON style (`{"_____order": […], "<group>": {"args": {…},
 * "x": […], …}}`). Larch reads the same files with `read_athena`.
 *
 * Browser-safe: the input is bytes or text, gzip is undone with fflate, nothing touches a file system.
 */
import { gunzipSync, strFromU8 } from 'fflate';
import { clipForMessage, parseDecimal } from './readSpectrum.js';

/** A value of Athena's per-group parameters (`args`) as the file stores it. */
export type AthenaArg = string | number | boolean | null | AthenaArg[] | { [key: string]: AthenaArg };

/** One group (one spectrum) of an Athena project. */
export interface AthenaGroup {
  /** Athena's group id, the key of the record in the file (e.g. `xsypw`); Larch keeps it as `athena_id`. */
  name: string;
  /** The label Athena shows in its group list (`args.label`, often the data file's name); `name` when absent. */
  label: string;
  /**
   * Athena's record type (`args.recordtype`): `mu(E)` for absorption data, also `xanes`, `norm(E)`
   * or `chi(k)`; empty when the file does not say.
   */
  recordType: string;
  /**
   * The group's `x` array: energy in eV for μ(E)-type records (as stored, without Athena's
   * `bkg_eshift`, which is in `args`), k in Å⁻¹ for a `chi(k)` record.
   */
  energy: Float64Array;
  /** The group's `y` array: μ(E) (or normalized μ, or χ(k) for a `chi(k)` record, see `recordType`). */
  mu: Float64Array;
  /**
   * Every numeric array stored with the group by Athena's name (`x`, `y`, `i0`, `signal`,
   * `stddev`…); a `null` element (JSON style) is NaN.
   */
  arrays: Record<string, Float64Array>;
  /** Athena's parameters for the group, as stored (`bkg_e0`, `bkg_rbkg`, `bkg_kw`, `fft_kmin`, `is_xmu`…). */
  args: Record<string, AthenaArg>;
}

/** What `listAthenaGroups` tells about each group, in the project's order. */
export interface AthenaGroupInfo {
  /** Athena's group id (see AthenaGroup.name). */
  name: string;
  /** Athena's label (see AthenaGroup.label). */
  label: string;
  /** Athena's record type (see AthenaGroup.recordType). */
  recordType: string;
  /** Number of points of the group's `x` array. */
  points: number;
}

/** A whole Athena project, or the groups that were asked for. */
export interface AthenaProject {
  /** `perl` (`Data::Dumper` style) or `json`. */
  style: 'perl' | 'json';
  /** The file's header lines (`# Athena project file -- Demeter version …`, creation date), without `#`. */
  header: string[];
  /** The groups, in the project's order (the order asked for when `groups` names them). */
  groups: AthenaGroup[];
}

/** Options of readAthena. */
export interface ReadAthenaOptions {
  /**
   * The groups to read, each by Athena group id or by label (ids first); default: all groups.
   * An unknown one is a RangeError that lists the project's groups.
   */
  groups?: string | readonly string[];
  /** File name used in error messages (default `Athena project`). */
  fileName?: string;
}

/** Deepest nesting of brackets the Perl-style parser follows (Athena writes at most 3). */
const MAX_NESTING = 64;

/** Text of a project file: gzip is recognised by its magic bytes, anything else is read as UTF-8. */
function projectText(data: Uint8Array | ArrayBuffer | string, file: string): string {
  if (typeof data === 'string') return data;
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      return strFromU8(gunzipSync(bytes));
    } catch (e) {
      throw new RangeError(`${file}: gzip data cannot be decompressed (${(e as Error).message})`);
    }
  }
  return strFromU8(bytes);
}

/** A raw group before its arrays are converted: what both styles reduce to. */
interface RawGroup {
  name: string;
  args: Record<string, AthenaArg>;
  arrays: Record<string, AthenaArg[]>;
}

/**
 * Reader of Perl literals as Data::Dumper writes them: quoted strings, numbers, barewords,
 * `undef`, `[…]`, `{… => …}`, `(…)` lists and `bless(…, 'Class')`. Scans by hand, linear in the text.
 */
class PerlReader {
  pos = 0;
  constructor(
    readonly src: string,
    readonly file: string,
  ) {}

  fail(what: string): never {
    const line = this.src.slice(0, this.pos).split('\n').length;
    throw new RangeError(`${this.file}: line ${line}: ${what} (Perl-style Athena project)`);
  }

  /** Skips white space and `#` comments. */
  skip(): void {
    const s = this.src;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (c === 35) {
        const nl = s.indexOf('\n', this.pos);
        this.pos = nl < 0 ? s.length : nl + 1;
      } else if (c === 32 || (c >= 9 && c <= 13)) this.pos++;
      else break;
    }
  }

  /** Consumes `tok` (after white space) if it is next. */
  accept(tok: string): boolean {
    this.skip();
    if (this.src.startsWith(tok, this.pos)) {
      this.pos += tok.length;
      return true;
    }
    return false;
  }

  expect(tok: string): void {
    if (!this.accept(tok)) this.fail(`expected '${tok}' at '${clipForMessage(this.src.slice(this.pos, this.pos + 20))}'`);
  }

  /** A word: letters, digits, `_`, `:`, `.`, `+`, `-` (barewords and unquoted numbers). */
  word(): string {
    this.skip();
    const s = this.src;
    const start = this.pos;
    while (this.pos < s.length && /[\w:.+\-]/.test(s[this.pos]!)) this.pos++;
    return s.slice(start, this.pos);
  }

  quoted(): string {
    const s = this.src;
    const q = s[this.pos]!;
    let out = '';
    let i = this.pos + 1;
    let from = i;
    for (;;) {
      if (i >= s.length) this.fail('unterminated string');
      const c = s[i]!;
      if (c === q) break;
      if (c === '\\' && i + 1 < s.length) {
        const n = s[i + 1]!;
        // Single quotes know only \\ and \'; double quotes also \n, \t and friends.
        if (n === '\\' || n === q) {
          out += s.slice(from, i) + n;
          i += 2;
          from = i;
          continue;
        }
        if (q === '"' && (n === 'n' || n === 't' || n === 'r' || n === '$' || n === '@')) {
          out += s.slice(from, i) + (n === 'n' ? '\n' : n === 't' ? '\t' : n === 'r' ? '\r' : n);
          i += 2;
          from = i;
          continue;
        }
      }
      i++;
    }
    this.pos = i + 1;
    return out + s.slice(from, i);
  }

  /** Elements up to `close`, separated by `,` or `=>`. */
  list(close: string, depth: number): AthenaArg[] {
    const out: AthenaArg[] = [];
    for (;;) {
      if (this.accept(close)) return out;
      out.push(this.value(depth + 1));
      if (!this.accept(',') && !this.accept('=>')) {
        this.expect(close);
        return out;
      }
    }
  }

  value(depth: number): AthenaArg {
    if (depth > MAX_NESTING) this.fail(`nesting deeper than ${MAX_NESTING} levels`);
    this.skip();
    const c = this.src[this.pos];
    if (c === undefined) this.fail('unexpected end of file');
    if (c === "'" || c === '"') return this.quoted();
    if (c === '[') {
      this.pos++;
      return this.list(']', depth);
    }
    if (c === '(') {
      this.pos++;
      return this.list(')', depth);
    }
    if (c === '{') {
      this.pos++;
      const items = this.list('}', depth);
      const hash: Record<string, AthenaArg> = {};
      for (let i = 0; i + 1 < items.length; i += 2) hash[String(items[i])] = items[i + 1]!;
      return hash;
    }
    const w = this.word();
    if (w === '') this.fail(`unexpected '${clipForMessage(this.src.slice(this.pos, this.pos + 20))}'`);
    if (w === 'undef') return null;
    if (w === 'bless') {
      this.expect('(');
      const inner = this.value(depth + 1);
      this.expect(',');
      this.value(depth + 1);
      this.expect(')');
      return inner;
    }
    const x = parseDecimal(w);
    return x === undefined ? w : x;
  }
}

/** Groups of a Perl-style project: `$old_group` opens a group, `[record]` closes it. */
function parsePerl(text: string, file: string): RawGroup[] {
  const r = new PerlReader(text, file);
  const groups: RawGroup[] = [];
  let current: RawGroup | null = null;
  for (;;) {
    r.skip();
    if (r.pos >= text.length) break;
    if (r.accept('[record]')) {
      current = null;
      continue;
    }
    const sigil = text[r.pos];
    if (sigil !== '$' && sigil !== '@') {
      // A bare statement such as `1;`.
      r.value(0);
      r.expect(';');
      continue;
    }
    r.pos++;
    const name = r.word();
    r.expect('=');
    const value = r.value(0);
    r.expect(';');
    if (sigil === '$' && name === 'old_group') {
      current = { name: String(value), args: {}, arrays: {} };
      groups.push(current);
    } else if (current !== null && sigil === '@') {
      const list = Array.isArray(value) ? value : [value];
      if (name === 'args') {
        for (let i = 0; i + 1 < list.length; i += 2) current.args[String(list[i])] = list[i + 1]!;
      } else current.arrays[name] = list;
    }
  }
  return groups;
}

/** Groups of a JSON-style project: every key whose value holds `args`, in `_____order` when given. */
function parseJson(text: string, file: string): { groups: RawGroup[]; header: string[] } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new RangeError(`${file}: not valid JSON (${clipForMessage((e as Error).message, 120)})`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new RangeError(`${file}: the JSON is not an object of groups`);
  const obj = doc as Record<string, unknown>;
  const header = Object.keys(obj)
    .filter((k) => /^_____header/.test(k) && typeof obj[k] === 'string')
    .map((k) => (obj[k] as string).replace(/^#\s*/, ''));
  const isGroup = (k: string): boolean => {
    const v = obj[k];
    return !k.startsWith('_____') && v !== null && typeof v === 'object' && !Array.isArray(v) && 'args' in v;
  };
  const order = Array.isArray(obj._____order) ? (obj._____order as unknown[]).map(String).filter(isGroup) : [];
  const names = order.length > 0 ? order : Object.keys(obj).filter(isGroup);
  const groups = names.map((name): RawGroup => {
    const g = obj[name] as Record<string, unknown>;
    const args = g.args !== null && typeof g.args === 'object' && !Array.isArray(g.args) ? (g.args as Record<string, AthenaArg>) : {};
    const arrays: Record<string, AthenaArg[]> = {};
    for (const [k, v] of Object.entries(g)) if (k !== 'args' && Array.isArray(v)) arrays[k] = v as AthenaArg[];
    return { name, args, arrays };
  });
  return { groups, header };
}

/** `# …` lines at the top of a Perl-style file. */
function perlHeader(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n', 20)) {
    const t = line.trim();
    if (t === '') continue;
    if (!t.startsWith('#')) break;
    out.push(t.replace(/^#\s*/, ''));
  }
  return out;
}

function parseProject(data: Uint8Array | ArrayBuffer | string, file: string): { style: 'perl' | 'json'; header: string[]; groups: RawGroup[] } {
  const text = projectText(data, file);
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) return { style: 'json', ...parseJson(trimmed, file) };
  if (!/^(#|\$|@)/.test(trimmed)) {
    throw new RangeError(`${file}: not an Athena project file (it starts with '${clipForMessage(trimmed.slice(0, 20))}', expected '#', '$old_group' or '{')`);
  }
  return { style: 'perl', header: perlHeader(trimmed), groups: parsePerl(trimmed, file) };
}

const labelOf = (g: RawGroup): string => (typeof g.args.label === 'string' && g.args.label !== '' ? g.args.label : g.name);
const recordTypeOf = (g: RawGroup): string => (typeof g.args.recordtype === 'string' ? g.args.recordtype : '');

/** An array of numbers or numeric strings as float64; `null` is NaN, anything else an error. */
function toFloat64(values: AthenaArg[], where: string): Float64Array {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    let x: number | undefined;
    if (typeof v === 'number') x = v;
    else if (v === null) x = NaN;
    else if (typeof v === 'string') {
      const t = v.trim();
      x = parseDecimal(t);
      if (x === undefined && /^[+-]?(nan|inf(inity)?)$/i.test(t)) x = t.toLowerCase().includes('nan') ? NaN : t.startsWith('-') ? -Infinity : Infinity;
    }
    if (x === undefined) throw new RangeError(`${where}[${i}] = '${clipForMessage(String(v))}' is not a number`);
    out[i] = x;
  }
  return out;
}

function toGroup(g: RawGroup, file: string): AthenaGroup {
  const arrays: Record<string, Float64Array> = {};
  for (const [k, v] of Object.entries(g.arrays)) arrays[k] = toFloat64(v, `${file}: group '${g.name}' array ${k}`);
  const x = arrays.x;
  const y = arrays.y;
  if (x === undefined || y === undefined) {
    throw new RangeError(`${file}: group '${g.name}' (${labelOf(g)}) has no ${x === undefined ? 'x' : 'y'} array (arrays: ${Object.keys(arrays).join(', ') || 'none'})`);
  }
  if (x.length !== y.length) throw new RangeError(`${file}: group '${g.name}' has ${x.length} x values but ${y.length} y values`);
  return { name: g.name, label: labelOf(g), recordType: recordTypeOf(g), energy: x, mu: y, arrays, args: g.args };
}

/**
 * The groups of an Athena project, in the project's order, without converting their arrays.
 * @param data the file's bytes (gzip or plain) or its text.
 * @param fileName used in error messages.
 */
export function listAthenaGroups(data: Uint8Array | ArrayBuffer | string, fileName = 'Athena project'): AthenaGroupInfo[] {
  return parseProject(data, fileName).groups.map((g) => ({ name: g.name, label: labelOf(g), recordType: recordTypeOf(g), points: g.arrays.x?.length ?? 0 }));
}

/**
 * Reads an Athena project (Larch: `read_athena`): all groups, or those named in `options.groups`
 * (by Athena id or label). Each group gives energy and μ (`x`, `y`), its other arrays, its label
 * and Athena's parameters.
 * @param data the file's bytes (gzip or plain) or its text.
 */
export function readAthena(data: Uint8Array | ArrayBuffer | string, options: ReadAthenaOptions = {}): AthenaProject {
  const file = clipForMessage(options.fileName ?? 'Athena project', 120);
  const project = parseProject(data, file);
  if (project.groups.length === 0) throw new RangeError(`${file}: the project holds no groups`);
  let chosen = project.groups;
  if (options.groups !== undefined) {
    const wanted = typeof options.groups === 'string' ? [options.groups] : options.groups;
    chosen = wanted.map((w) => {
      const g = project.groups.find((x) => x.name === w) ?? project.groups.find((x) => labelOf(x) === w);
      if (g === undefined) {
        const known = project.groups.map((x) => `${x.name} (${clipForMessage(labelOf(x), 40)})`);
        throw new RangeError(`${file}: no group '${clipForMessage(String(w))}'; the project has ${known.length}: ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', …' : ''}`);
      }
      return g;
    });
  }
  return { style: project.style, header: project.header, groups: chosen.map((g) => toGroup(g, file)) };
}
