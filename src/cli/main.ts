// `pidguard <command>`: dispatch, top-level help, and the one place that turns
// errors into exit codes and messages.

import { InputError } from '../input/yaml-input.js';
import { EXIT } from './exit-codes.js';
import { CliError, type CliIO, type Command } from './io.js';
import { printable } from './table.js';

/** Commands load lazily so `pidguard node` on a starving node loads no webhook or API client code. */
const COMMANDS: ReadonlyArray<{ name: string; summary: string; load: () => Promise<Command> }> = [
  { name: 'evaluate', summary: 'Evaluate manifests offline with the admission policy', load: async () => (await import('./evaluate.js')).evaluateCommand },
  { name: 'serve', summary: 'Run the admission webhook server (HTTPS)', load: async () => (await import('./serve.js')).serveCommand },
  { name: 'node', summary: 'One-shot triage of a node: thread hogs, their pods, PID headroom', load: async () => (await import('./node.js')).nodeCommand },
  { name: 'agent', summary: 'Node agent: measure PIDs, enforce pids-limit in cgroups, export metrics', load: async () => (await import('./agent.js')).agentCommand },
  { name: 'audit', summary: 'Report what already runs in the cluster against the policy', load: async () => (await import('./audit.js')).auditCommand },
  { name: 'certs', summary: 'Generate a development CA and serving certificate', load: async () => (await import('./certs.js')).certsCommand },
  { name: 'test', summary: 'Check manifests against expected policy decisions (CI)', load: async () => (await import('./test.js')).testCommand },
  { name: 'policies', summary: 'Print the policy compiled into in-API-server admission policies (YAML)', load: async () => (await import('./policies.js')).policiesCommand },
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
      return name === undefined ? EXIT.usage : EXIT.ok;
    }
    return main([target, '--help'], io);
  }
  if (name === '--version' || name === 'version') {
    io.stdout.write(`${await version()}\n`);
    return EXIT.ok;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) {
    io.stderr.write(`pidguard: unknown command "${name}"\n\n${topLevelHelp()}`);
    return EXIT.usage;
  }
  return runCommand(await entry.load(), rest, io);
}

/** --help, or the command's run with its errors turned into a message and an exit code. */
export async function runCommand(command: Command, argv: string[], io: CliIO): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(command.help.endsWith('\n') ? command.help : `${command.help}\n`);
    return EXIT.ok;
  }
  try {
    return await command.run(argv, io);
  } catch (error) {
    if (error instanceof CliError || error instanceof InputError) {
      // Messages quote what came from outside (file contents, API errors): inert on a terminal, line by line.
      io.stderr.write(`pidguard ${command.name}: ${error.message.split('\n').map(printable).join('\n')}\n`);
      return error instanceof CliError ? error.exitCode : EXIT.usage;
    }
    io.stderr.write(`pidguard ${command.name}: unexpected error: ${(error as Error)?.stack ?? String(error)}\n`);
    return EXIT.software;
  }
}

async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
