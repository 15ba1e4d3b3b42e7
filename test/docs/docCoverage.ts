/**
 * Finds the public API's declarations without a doc comment, with the TypeScript compiler API:
 * everything the package's entry points export (functions, classes, interfaces, type aliases,
 * variables, enums), every field of an exported interface or object type (inherited ones
 * included), and every public member of an exported class. Declarations tagged `@internal` and
 * constructors (documented by their class) are not required to have one.
 */
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The package's entry points (package.json "exports"). */
export const ENTRY_POINTS = ['src/index.ts', 'src/xafs/index.ts', 'src/stars/index.ts'];

/** One undocumented declaration: its file (relative to the repository) and `Export.member`. */
export interface MissingDoc {
  file: string;
  name: string;
}

function hasDocComment(node: ts.Node): boolean {
  // Variables carry their JSDoc on the statement, not the declaration.
  const target = ts.isVariableDeclaration(node) ? node.parent.parent : node;
  return ts.getJSDocCommentsAndTags(target).some((d) => {
    if (!ts.isJSDoc(d)) return false;
    const text = typeof d.comment === 'string' ? d.comment : (d.comment ?? []).map((c) => c.text).join('');
    return text.trim() !== '';
  });
}

function isInternal(node: ts.Node): boolean {
  const target = ts.isVariableDeclaration(node) ? node.parent.parent : node;
  return ts.getJSDocTags(target).some((t) => t.tagName.text === 'internal');
}

/** Where to look: a project root, its entry points and tsconfig (default: this package's). */
export interface DocCoverageTarget {
  root: string;
  entryPoints: readonly string[];
  tsconfig: string;
}

/** Every undocumented public declaration reachable from the entry points, sorted by file and name. */
export function findMissingDocComments(target: DocCoverageTarget = { root: ROOT, entryPoints: ENTRY_POINTS, tsconfig: 'tsconfig.build.json' }): MissingDoc[] {
  const { root: ROOT, entryPoints: ENTRY_POINTS } = target;
  const configPath = join(ROOT, target.tsconfig);
  const config = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
  if (config === undefined) throw new Error('cannot read tsconfig.build.json');
  const program = ts.createProgram({ rootNames: ENTRY_POINTS.map((e) => join(ROOT, e)), options: { ...config.options, noEmit: true } });
  const checker = program.getTypeChecker();
  const srcDir = join(ROOT, 'src');
  const seen = new Set<ts.Node>();
  const missing: MissingDoc[] = [];

  const ours = (node: ts.Node): boolean => {
    const f = node.getSourceFile().fileName;
    return f.startsWith(srcDir) && !f.endsWith('.d.ts');
  };
  const check = (node: ts.Node, name: string): void => {
    if (seen.has(node) || !ours(node)) return;
    seen.add(node);
    if (!isInternal(node) && !hasDocComment(node)) missing.push({ file: relative(ROOT, node.getSourceFile().fileName), name });
  };
  const publicMember = (decl: ts.Declaration): boolean => {
    const flags = ts.getCombinedModifierFlags(decl);
    const n = (decl as ts.NamedDeclaration).name;
    return (flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) === 0 && !(n !== undefined && ts.isPrivateIdentifier(n));
  };
  const checkMembers = (type: ts.Type, owner: string): void => {
    for (const prop of checker.getPropertiesOfType(type)) {
      if (prop.name === 'prototype') continue;
      for (const decl of prop.declarations ?? []) {
        if (ts.isConstructorDeclaration(decl) || !publicMember(decl)) continue;
        // Symbol-keyed members (`[Symbol.iterator]`) have internal names like __@iterator@12.
        const name = prop.name.startsWith('__@') ? `[Symbol.${prop.name.slice(3).replace(/@\d+$/, '')}]` : prop.name;
        check(decl, `${owner}.${name}`);
      }
    }
  };

  for (const entry of ENTRY_POINTS) {
    const source = program.getSourceFile(join(ROOT, entry));
    const moduleSymbol = source && checker.getSymbolAtLocation(source);
    if (moduleSymbol === undefined) throw new Error(`${entry}: not a module`);
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      for (const decl of symbol.declarations ?? []) {
        if (!ours(decl) || isInternal(decl)) continue;
        check(decl, exported.name);
        if (ts.isClassDeclaration(decl)) {
          checkMembers(checker.getDeclaredTypeOfSymbol(symbol), exported.name);
          checkMembers(checker.getTypeOfSymbolAtLocation(symbol, decl), exported.name);
        } else if (ts.isInterfaceDeclaration(decl) || (ts.isTypeAliasDeclaration(decl) && ts.isTypeLiteralNode(decl.type))) {
          checkMembers(checker.getDeclaredTypeOfSymbol(symbol), exported.name);
        } else if (ts.isEnumDeclaration(decl)) {
          for (const m of decl.members) check(m, `${exported.name}.${m.name.getText()}`);
        }
      }
    }
  }
  return missing.sort((a, b) => a.file.localeCompare(b.file) || a.name.localeCompare(b.name));
}
