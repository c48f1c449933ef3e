// The README's exit-code table is src/cli/exit-codes.ts's EXIT_TABLE, row by
// row, and the commands exit as it says where the old code disagreed (serve on a
// bad namespaces file or kubeconfig: 2 like every other input, not 1).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT, EXIT_TABLE } from '../../../src/cli/exit-codes.js';
import { runCli } from './run-cli.js';

function readmeExitTable(): Record<string, Record<string, string>> {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('| command | 0 | 1 | 2 | 3 |');
  expect(start).toBeGreaterThan(-1);
  const rows = readme.slice(start).split('\n\n')[0]!.split('\n').slice(2);
  const table: Record<string, Record<string, string>> = {};
  for (const row of rows) {
    // Empty cells too (`| printed | | bad flags |`): split on every bar, drop the outer ones.
    const cells = row.split('|').slice(1, -1).map((cell) => cell.trim());
    const [command, ...meanings] = cells;
    table[command!.replaceAll('`', '')] = Object.fromEntries(meanings.flatMap((meaning, code) => (meaning ? [[String(code), meaning]] : [])));
  }
  return table;
}

test('the README exit-code table equals EXIT_TABLE', () => {
  expect(readmeExitTable()).toEqual(EXIT_TABLE);
});

test('every command of `pidguard --help` has a row', async () => {
  const { stdout } = await runCli(['--help']);
  const commands = [...stdout.matchAll(/^ {2}([a-z]+) /gm)].map((match) => match[1]!);
  expect(commands.length).toBeGreaterThan(4);
  for (const command of commands) expect(Object.keys(EXIT_TABLE)).toContain(command);
});

describe('serve: a bad input file is a usage error (2), as in every other command', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pidguard-exit-'));

  test('a namespaces file that cannot be read', async () => {
    const run = await runCli(['serve', '--namespaces-file', join(dir, 'missing.yaml')]);
    expect(run.stderr).toContain('missing.yaml');
    expect(run.code).toBe(EXIT.usage);
  }, 30_000); // the first run loads serve's modules

  test('a namespaces file of the wrong shape', async () => {
    writeFileSync(join(dir, 'list.yaml'), '- a\n- b\n');
    const run = await runCli(['serve', '--namespaces-file', join(dir, 'list.yaml')]);
    expect(run.code).toBe(EXIT.usage);
  });

  // A real process (dist/, `npm run build`): the kubeconfig is read by client-node, which jest's ESM loader cannot import.
  test('a kubeconfig that cannot be loaded', () => {
    const run = spawnSync(process.execPath, ['bin/pidguard.js', 'serve', '--kubeconfig', join(dir, 'absent-kubeconfig')], { encoding: 'utf8', env: {}, timeout: 30_000 });
    expect(run.stderr).toContain('cannot load the cluster configuration');
    expect(run.status).toBe(EXIT.usage);
  }, 30_000);
});
