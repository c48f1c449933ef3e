// Shared flag parsers and the commands that use them.
import { readFileSync } from 'node:fs';
import { agentCommand } from '../../../src/cli/agent.js';
import { durationFlag, logLevelFlag } from '../../../src/cli/args.js';
import { auditCommand } from '../../../src/cli/audit.js';
import { testCommand } from '../../../src/cli/test.js';
import { certsCommand } from '../../../src/cli/certs.js';
import { evaluateCommand } from '../../../src/cli/evaluate.js';
import { EXIT } from '../../../src/cli/exit-codes.js';
import type { Command } from '../../../src/cli/io.js';
import { nodeCommand } from '../../../src/cli/node.js';
import { serveCommand } from '../../../src/cli/serve.js';
import { replayCommand } from '../../../lab/replay-command.js';
import { runCli } from './run-cli.js';

describe('flag parsers', () => {
  it('parses log levels and names the flag otherwise', () => {
    expect(logLevelFlag('warn')).toBe('warn');
    expect(() => logLevelFlag('chatty')).toThrow('--log-level must be one of debug, info, warn, error, got "chatty"');
  });

  it('parses durations within their bounds', () => {
    expect(durationFlag('250ms', '--interval')).toBe(250);
    expect(durationFlag('5m', '--interval')).toBe(300_000);
    expect(() => durationFlag('10', '--interval')).toThrow('--interval must be a duration');
    expect(() => durationFlag('50ms', '--interval')).toThrow('from 100ms');
  });

  it.each([
    [['agent', '--log-level', 'chatty'], '--log-level must be one of debug, info, warn, error'],
    [['agent', '--interval', 'often'], '--interval must be a duration'],
  ])('%j is a usage error', async (argv, message) => {
    const { code, stderr } = await runCli(argv);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
  });
});

// Flags are declared once (src/cli/flags.ts): --help is generated from the
// declarations, and the docs' flag tables must say the same variable and default.
describe('flag declarations, --help and the docs', () => {
  const commands: Command[] = [evaluateCommand, serveCommand, nodeCommand, agentCommand, auditCommand, certsCommand, replayCommand, testCommand];
  const normalized = (text: string) => text.replace(/\s+/g, ' ');

  /** The help's entry for each flag: `--name ...` up to the next flag. */
  function helpEntries(help: string): Map<string, string> {
    const entries = new Map<string, string>();
    for (const entry of help.split(/\n(?= {2}(?:-[a-z], | {4})--)/)) {
      const name = /^ {2}(?:-[a-z], | {4})--([a-z-]+)/.exec(entry)?.[1];
      if (name) entries.set(name, normalized(entry.split('\n\n')[0]!));
    }
    return entries;
  }

  test.each(commands.map((command) => [command.name, command] as const))('%s --help lists every declared flag with its variable and default', (_name, command) => {
    const entries = helpEntries(command.help);
    expect([...entries.keys()].sort()).toEqual([...Object.keys(command.flags), 'help'].sort());
    for (const [name, spec] of Object.entries(command.flags)) {
      const entry = entries.get(name)!;
      if (spec.short) expect(entry).toContain(`-${spec.short}, --${name}`);
      if (spec.env) expect(entry).toContain(`[${spec.env}]`);
      const shown = spec.defaultText ?? spec.default;
      if (shown !== undefined) expect(entry).toContain(normalized(`(default ${shown})`));
    }
  });

  test('agent --sys is accepted and documented (it was accepted but not in the help)', async () => {
    expect(agentCommand.help).toMatch(/--sys DIR/);
    const { code, stderr } = await runCli(['agent', '--sys', '/s', '--cgroup-root', '/c', '--once']);
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain('give --sys or --cgroup-root, not both');
  });

  /** Table rows of `doc` whose first cell names `--flag`, backticks dropped. */
  function rows(doc: string, flag: string): string[] {
    return doc.split('\n').filter((line) => line.startsWith('|') && (line.split('|')[1] ?? '').includes(`\`--${flag}`)).map((line) => line.replaceAll('`', ''));
  }

  const sections: Array<[Command, string]> = [
    [serveCommand, section(readDoc('WEBHOOK.md'), '## Flags', '## Endpoints')],
    [nodeCommand, section(readDoc('NODE.md'), '## `pidguard node`', '## `pidguard agent`')],
    [agentCommand, section(readDoc('NODE.md'), '## `pidguard agent`', '### Enforcement')],
    [replayCommand, section(readDoc('NODE.md'), '## The incident replay', '## Tests and benchmark')],
  ];

  test.each(sections.map(([command, doc]) => [command.name, command, doc] as const))('the docs of %s name every flag, and their table rows its variable and default', (_name, command, doc) => {
    for (const [name, spec] of Object.entries(command.flags)) {
      expect(doc).toContain(`--${name}`);
      for (const row of rows(doc, name)) {
        if (spec.env) expect(row).toContain(spec.env);
        if (spec.default !== undefined) expect(row).toContain(spec.default);
      }
    }
    expect(Object.keys(command.flags).filter((name) => rows(doc, name).length > 0).length).toBeGreaterThan(command === replayCommand ? -1 : 4);
  });
});

function readDoc(name: string): string {
  return readFileSync(new URL(`../../../docs/${name}`, import.meta.url), 'utf8');
}

function section(doc: string, from: string, to: string): string {
  const start = doc.indexOf(from);
  const end = doc.indexOf(to, start + 1);
  expect(start).toBeGreaterThan(-1);
  expect(end).toBeGreaterThan(start);
  return doc.slice(start, end);
}
