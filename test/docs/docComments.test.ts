/**
 * Every exported function, class, interface, type, variable and enum of the package's entry
 * points, every field of an exported interface or object type and every public class member has
 * a doc comment (docCoverage.ts says exactly what counts).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findMissingDocComments } from './docCoverage.js';

describe('doc comments of the public API', () => {
  it('every export, field and public member has one', () => {
    const missing = findMissingDocComments().map((m) => `${m.file}: ${m.name}`);
    expect(missing).toEqual([]);
  });

  it('finds each kind of undocumented declaration (a project made for the test)', () => {
    const root = mkdtempSync(join(tmpdir(), 'batchfit-doc-'));
    try {
      mkdirSync(join(root, 'src'));
      writeFileSync(join(root, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022' }, include: ['src'] }));
      writeFileSync(
        join(root, 'src', 'lib.ts'),
        [
          '/** Documented. */ export function good(): number { return 1; }',
          'export function bare(): number { return 2; }',
          '/** Documented. */ export interface Shape {',
          '  /** Documented. */ width: number;',
          '  height: number;',
          '}',
          '/** Documented. */ export class Box {',
          '  /** Documented. */ readonly size = 1;',
          '  weight = 2;',
          '  private hidden = 3;',
          '  area(): number { return this.hidden; }',
          '  /** @internal */ plumbing(): void {}',
          '}',
          'export const LIMIT = 3;',
          '/** @internal */ export const SECRET = 4;',
        ].join('\n'),
      );
      writeFileSync(join(root, 'src', 'index.ts'), "export * from './lib.js';\n");
      const missing = findMissingDocComments({ root, entryPoints: ['src/index.ts'], tsconfig: 'tsconfig.json' });
      expect(missing.map((m) => m.name).sort()).toEqual(['Box.area', 'Box.weight', 'LIMIT', 'Shape.height', 'bare']);
      expect(new Set(missing.map((m) => m.file))).toEqual(new Set(['src/lib.ts']));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
