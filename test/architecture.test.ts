/**
 * Enforces the import direction of docs/ARCHITECTURE.md over every .ts file under src/:
 *
 *   ree → tee → channel ← trusted-key; every folder may import the base folders
 *   (common, crypto, storage, cpk, protocol); base folders import only base folders;
 *   common imports nothing else from src; nothing outside ree imports ree.
 *
 * A folder missing from the rules below (a new one) gets only the last rule and a warning, so adding a
 * folder does not break the build before the document catches up; `device` is listed explicitly.
 *
 * Imports are read with the TypeScript parser (static, type-only, re-exports, dynamic import(),
 * require()), so comments and strings cannot hide or fake one. Math.random is banned in src/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src');

const BASE = ['common', 'crypto', 'storage', 'cpk', 'protocol'] as const;

/** For each folder of src/, the folders of src/ it may import from (itself included). */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  common: ['common'],
  crypto: BASE,
  storage: BASE,
  cpk: BASE,
  protocol: BASE,
  channel: [...BASE, 'channel'],
  tee: [...BASE, 'channel', 'tee'],
  'trusted-key': [...BASE, 'channel', 'trusted-key'],
  ree: [...BASE, 'channel', 'tee', 'ree'],
  // The simulated phone and factory: a composition root that wires a TEE OS and a trusted key
  // together, as the hardware would. It may import every layer except the REE.
  device: [...BASE, 'channel', 'tee', 'trusted-key', 'device'],
};

/**
 * Sub-folders of the REE that launch the simulator's hardware (the CLI, the demo, the attack
 * harness, the teaching page) may also import `device`; the wallet app and the backend never do:
 * they get a TeeDriver or public data only.
 */
const REE_LAUNCHERS: Readonly<Record<string, readonly string[]>> = {
  'ree/cli': [...BASE, 'channel', 'tee', 'ree', 'device'],
  'ree/demo': [...BASE, 'channel', 'tee', 'ree', 'device'],
  'ree/harness': [...BASE, 'channel', 'tee', 'ree', 'device', 'trusted-key'],
  'ree/teach': [...BASE, 'channel', 'tee', 'ree', 'device'],
};

/** Folders that the rules above do not know: only the universal rule applies (nothing imports ree). */
function unknownFolderRule(fromFolder: string, toFolder: string): boolean {
  return toFolder !== 'ree' || fromFolder === 'ree';
}

/**
 * Known, deliberate exceptions (file relative to src/, specifier), each with its reason. Keep this short:
 * every entry is a dependency the layering does not explain.
 */
const KNOWN_EXCEPTIONS: readonly { file: string; specifier: string; reason: string }[] = [
  {
    file: 'ree/cli/demo.ts',
    specifier: '../../../scripts/demo-channel.js',
    reason: 'the CLI `demo` command runs the channel demo script until the payment flows exist (skeleton stopgap)',
  },
];

function isKnownException(file: string, specifier: string): boolean {
  const from = relative(SRC, file).split(sep).join('/');
  return KNOWN_EXCEPTIONS.some((e) => e.file === from && e.specifier === specifier);
}

function listTs(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listTs(full));
    else if (entry.isFile() && /\.(m|c)?tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

/** Every module specifier a source file names: imports, re-exports, import(), require(). */
function importSpecifiers(text: string, fileName = 'file.ts'): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const e = node.moduleReference.expression;
      if (ts.isStringLiteral(e)) found.push(e.text);
    } else if (ts.isCallExpression(node)) {
      const [arg] = node.arguments;
      const isImport = node.expression.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(node.expression) && node.expression.text === 'require';
      if ((isImport || isRequire) && arg && ts.isStringLiteralLike(arg)) found.push(arg.text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push(node.argument.literal.text); // type X = import('../tee/ta.js').Ta
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Uses of Math.random (Math.random(), Math['random'], a bare reference), comments ignored. */
function mathRandomUses(text: string, fileName = 'file.ts'): number[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const lines: number[] = [];
  const visit = (node: ts.Node): void => {
    const isMath = (e: ts.Expression) => ts.isIdentifier(e) && e.text === 'Math';
    if (
      (ts.isPropertyAccessExpression(node) && isMath(node.expression) && node.name.text === 'random') ||
      (ts.isElementAccessExpression(node) && isMath(node.expression) && ts.isStringLiteralLike(node.argumentExpression) && node.argumentExpression.text === 'random')
    ) {
      lines.push(source.getLineAndCharacterOfPosition(node.getStart()).line + 1);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return lines;
}

/** The folder of src/ a path lies in, or why it is not in one. */
function folderOf(srcRelative: string): string {
  const parts = srcRelative.split(sep);
  return parts.length > 1 ? parts[0]! : '(src root)';
}

/** One rule violation as a readable line, or null if the import is allowed. */
function checkImport(file: string, specifier: string): string | null {
  const from = relative(SRC, file);
  const fromFolder = folderOf(from);
  const launcher = Object.keys(REE_LAUNCHERS).find((k) => from.split(sep).join('/').startsWith(k + '/'));
  const allowed = launcher ? REE_LAUNCHERS[launcher] : ALLOWED[fromFolder];
  if (fromFolder === '(src root)') return `src/${from}: a file at the root of src/ belongs to no layer`;
  if (specifier.startsWith('/') || /^[A-Za-z]:[\\/]/.test(specifier)) return `src/${from} imports '${specifier}': absolute paths are not allowed`;
  if (!specifier.startsWith('.')) return null; // a package or node: built-in
  const target = relative(SRC, resolve(dirname(file), specifier));
  if (target.startsWith('..')) return `src/${from} imports '${specifier}': outside src/ (test or script code)`;
  const toFolder = folderOf(target);
  const shown = `src/${from} imports '${specifier}' (src/${target.split(sep).join('/')})`;
  if (toFolder === '(src root)') return `${shown}: a file at the root of src/ belongs to no layer`;
  if (!allowed) return unknownFolderRule(fromFolder, toFolder) ? null : `${shown}: nothing outside src/ree may import the REE`;
  if (allowed.includes(toFolder)) return null;
  return `${shown}: '${fromFolder}' may import only ${allowed.join(', ')}`;
}

const files = listTs(SRC);

describe('architecture: import direction (docs/ARCHITECTURE.md)', () => {
  it('finds the source tree', () => {
    expect(files.length).toBeGreaterThan(5);
    for (const folder of ['common', 'crypto']) expect(files.some((f) => relative(SRC, f).startsWith(folder + sep))).toBe(true);
  });

  it('every import in src/ follows the layering', () => {
    const violations: string[] = [];
    const undocumented = new Set<string>();
    let imports = 0;
    for (const file of files) {
      for (const spec of importSpecifiers(readFileSync(file, 'utf8'), file)) {
        imports++;
        const v = checkImport(file, spec);
        if (v && !isKnownException(file, spec)) violations.push(v);
      }
      const folder = folderOf(relative(SRC, file));
      if (folder === '(src root)') violations.push(checkImport(file, 'node:fs')!);
      else if (!ALLOWED[folder]) undocumented.add(folder);
    }
    if (undocumented.size > 0) {
      console.warn(`architecture: src/ folders not in the layering rules (only 'nothing imports ree' applies): ${[...undocumented].join(', ')}`);
    }
    expect(imports).toBeGreaterThan(10);
    expect([...new Set(violations)], `layering violations:\n  ${[...new Set(violations)].join('\n  ')}`).toEqual([]);
  });

  it('no Math.random anywhere in src/ (use the crypto provider\'s randomBytes)', () => {
    const uses: string[] = [];
    for (const file of files) {
      for (const line of mathRandomUses(readFileSync(file, 'utf8'), file)) uses.push(`src/${relative(SRC, file)}:${line}`);
    }
    expect(uses, `Math.random used at:\n  ${uses.join('\n  ')}`).toEqual([]);
  });
});

describe('architecture: the checker itself', () => {
  const at = (p: string) => join(SRC, ...p.split('/'));

  it('reads every form of import, and nothing in comments or strings', () => {
    const text = [
      "import { a } from '../common/a.js';",
      "import type {\n  B,\n} from '../crypto/b.js';",
      "import '../storage/side-effect.js';",
      "export * from './x.js';",
      "export { y } from '../cpk/y.js';",
      "const m = await import('../tee/dyn.js');",
      "const r = require('../ree/req.js');",
      "type T = import('../channel/t.js').T;",
      "import z = require('../protocol/z.js');",
      "// import { no } from '../ree/comment.js';",
      "/* import '../ree/block.js'; */",
      "const s = \"import x from '../ree/string.js'\";",
    ].join('\n');
    expect(importSpecifiers(text)).toEqual([
      '../common/a.js', '../crypto/b.js', '../storage/side-effect.js', './x.js', '../cpk/y.js',
      '../tee/dyn.js', '../ree/req.js', '../channel/t.js', '../protocol/z.js',
    ]);
  });

  it('finds Math.random but not a mention of it', () => {
    const text = "const a = Math.random();\n// Math.random()\nconst b = Math['random'];\nconst c = 'Math.random';\nconst d = rng.random();";
    expect(mathRandomUses(text)).toEqual([1, 3]);
  });

  it.each([
    ['common/x.ts', '../crypto/provider.js', false],
    ['common/x.ts', './errors.js', true],
    ['common/x.ts', 'msgpackr', true],
    ['crypto/x.ts', '../common/errors.js', true],
    ['crypto/x.ts', '../channel/transport.js', false],
    ['storage/x.ts', '../tee/ta.js', false],
    ['cpk/x.ts', '../trusted-key/index.js', false],
    ['protocol/x.ts', '../ree/wallet.js', false],
    ['protocol/x.ts', '../crypto/index.js', true],
    ['channel/x.ts', '../crypto/index.js', true],
    ['channel/x.ts', '../tee/ta.js', false],
    ['channel/x.ts', '../trusted-key/agent.js', false],
    ['tee/x.ts', '../channel/index.js', true],
    ['tee/x.ts', '../trusted-key/agent.js', false],
    ['tee/x.ts', '../ree/client-api/index.js', false],
    ['trusted-key/x.ts', '../channel/index.js', true],
    ['trusted-key/x.ts', '../tee/ta.js', false],
    ['trusted-key/x.ts', '../ree/cli/main.js', false],
    ['ree/qr/x.ts', '../../tee/driver.js', true],
    ['ree/qr/x.ts', '../backend/index.js', true],
    ['ree/x.ts', '../trusted-key/agent.js', false],
    ['tee/x.ts', '../../test/helpers.js', false],
    ['tee/x.ts', '../../scripts/demo.js', false],
    ['tee/x.ts', '../index.js', false],
    ['tee/x.ts', '/abs/path.js', false],
    ['tee/x.ts', 'node:crypto', true],
    ['index.ts', './tee/x.js', false],
    ['device/x.ts', '../trusted-key/index.js', true],
    ['device/x.ts', '../tee/index.js', true],
    ['device/x.ts', '../ree/cli/main.js', false],
    ['tee/x.ts', '../device/phone.js', false],
    ['trusted-key/x.ts', '../device/phone.js', false],
    ['common/x.ts', '../device/phone.js', false],
    ['newfolder/x.ts', '../tee/index.js', true],
    ['newfolder/x.ts', '../ree/wallet.js', false],
  ] as const)('%s importing %s: allowed=%s', (file, spec, ok) => {
    const v = checkImport(at(file), spec);
    if (ok) expect(v).toBeNull();
    else expect(v).toContain(`src/${file}`);
  });
});
