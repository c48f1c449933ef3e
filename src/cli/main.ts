// `pidguard <command>`: dispatch, top-level help, and the one place that turns
// errors into exit codes and messages.

import { InputError } from '../input/yaml-input.js';
import { CliError, type CliIO, type Command } from './io.js';

/** Commands load lazily so `pidguard node` on a starving node loads no webhook or API client code. */
const COMMANDS: ReadonlyArray<{ name: string; summary: string; load: () => Promise<Command> }> = [
  { name: 'evaluate', summary: 'Evaluate manifests offline with the admission policy', load: async () => (await import('./evaluate.js')).evaluateCommand },
  { name: 'serve', summary: 'Run the admission webhook server (HTTPS)', load: async () => (await import('./serve.js')).serveCommand },
  { name: 'node', summary: 'One-shot triage of a node: thread hogs, their pods, PID headroom', load: async () => (await import('./node.js')).nodeCommand },
  { name: 'agent', summary: 'Node agent: measure PIDs, enforce pids-limit in cgroups, export metrics', load: async () => (await import('./agent.js')).agentCommand },
  { name: 'audit', summary: 'Report what already runs in the cluster against the policy', load: async () => (await import('./audit.js')).auditCommand },
  { name: 'certs', summary: 'Generate a development CA and serving certificate', load: async () => (await import('./certs.js')).certsCommand },
  { name: 'policies', summary: 'Print the policy compiled into in-API-server admission policies (YAML)', load: async () => (await import('./policies.js')).policiesCommand },
  { name: 'replay', summary: 'Replay the PID-exhaustion incident safely in cgroups, with and without pidguard', load: async () => (await import('./replay.js')).replayCommand },
];

export function topLevelHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    'pidguard: stop thread explosions from exhausting a node\'s PIDs',
    '',
    'Usage: pidguard <command> [flags]',
    '',
    'Commands:',
    ...lines,
    '',
    'Run `pidguard <command> --help` for the flags of a command.',
    '',
  ].join('\n');
}

export async function main(argv: string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const target = name === 'help' ? rest[0] : undefined;
    if (target === undefined) {
      io.stdout.write(topLevelHelp());
      return name === undefined ? 2 : 0;
    }
    return main([target, '--help'], io);
  }
  if (name === '--version' || name === 'version') {
    io.stdout.write(`${await version()}\n`);
    return 0;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) {
    io.stderr.write(`pidguard: unknown command "${name}"\n\n${topLevelHelp()}`);
    return 2;
  }
  const command = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(command.help.endsWith('\n') ? command.help : `${command.help}\n`);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof CliError || error instanceof InputError) {
      io.stderr.write(`pidguard ${name}: ${error.message}\n`);
      return error.exitCode;
    }
    io.stderr.write(`pidguard ${name}: unexpected error: ${(error as Error)?.stack ?? String(error)}\n`);
    return 70; // EX_SOFTWARE: a bug, not bad input
  }
}

async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
