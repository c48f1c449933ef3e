// The rooms of src/ and what each may reach (docs/ARCHITECTURE.md): a few greps
// over imports, so a shortcut across a boundary fails here instead of in review.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

function sourcesUnder(folder: string): string[] {
  return readdirSync(join(root, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)));
}

/** What a file imports (static, dynamic, re-exports), relative specifiers resolved to repository paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  // Statements only (import/export ... from, bare import, dynamic import), not `from` inside string literals.
  const statements = /^\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/gm;
  return [...text.matchAll(statements)].map((match) => match[1] ?? match[2] ?? match[3]!).map((specifier) =>
    specifier.startsWith('.') ? relative(root, resolve(root, dirname(file), specifier)) : specifier,
  );
}

function violations(folder: string, forbidden: (target: string) => boolean): string[] {
  return sourcesUnder(folder).flatMap((file) => importsOf(file).filter(forbidden).map((target) => `${file} imports ${target}`));
}

test('src/policy imports only src/policy (and fast-json-patch, pure): no I/O, no other room', () => {
  expect(sourcesUnder('src/policy').length).toBeGreaterThan(10);
  expect(violations('src/policy', (target) => !target.startsWith('src/policy/') && target !== 'fast-json-patch')).toEqual([]);
});

// Passes once the node agent's pod watch, reporter and namespaces move from src/kube to src/node (issue 13, transport).
test('src/kube imports nothing from src/node, src/webhook or src/audit', () => {
  expect(violations('src/kube', (target) => /^src\/(node|webhook|audit)\//.test(target))).toEqual([]);
});

test('nothing under src/node or src/webhook can start a process', () => {
  const spawns = (target: string) => target === 'node:child_process' || target === 'child_process' || target === 'node:cluster' || target === 'cluster';
  expect([...violations('src/node', spawns), ...violations('src/webhook', spawns)]).toEqual([]);
});

test('only src/cli reads process.env', () => {
  const readers = sourcesUnder('src').filter((file) => !file.startsWith('src/cli/') && /\bprocess\.env\b/.test(readFileSync(join(root, file), 'utf8')));
  expect(readers).toEqual([]);
});

test('the shipped tree never reaches the lab, and the lab is not shipped', () => {
  expect(violations('src', (target) => target.startsWith('lab/'))).toEqual([]);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files: string[] };
  expect(pkg.files).toEqual(['bin', 'dist']);
  const build = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
  expect(build.include).toEqual(['src']);
  expect(readFileSync(join(root, 'Dockerfile'), 'utf8')).not.toMatch(/COPY\s+lab\b/);
});

test('certs/ holds only its README in git: everything else in it is ignored', () => {
  const ignore = readFileSync(join(root, '.gitignore'), 'utf8').split('\n');
  expect(ignore).toEqual(expect.arrayContaining(['certs/*', '!certs/README.md']));
  expect(readFileSync(join(root, 'certs/README.md'), 'utf8')).toContain('never committed');
});
