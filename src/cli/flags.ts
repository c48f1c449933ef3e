// Every flag of every command is declared once, here in shape and in each
// command's file in content: its help, its environment variable and its
// default. Parsing (node:util parseArgs, strict) and the flag list of --help
// both come from the declaration, so they cannot drift
// (test/unit/cli/flags.test.ts also holds the docs' flag tables to it).

import { exitCodesHelp } from './exit-codes.js';
import { parseFlags } from './args.js';

export interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** What the value is, in the help: N, DIR, DURATION. */
  value?: string;
  help: string;
  /** The environment variable read when the flag is not given. */
  env?: string;
  /** The value when neither the flag nor its variable is given. */
  default?: string;
  /** How the help states a default that is not a fixed string ("the host name", "built-in"). */
  defaultText?: string;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

type ValueOf<S> = S extends { type: 'boolean' }
  ? boolean
  : S extends { multiple: true }
    ? string[] | undefined
    : S extends { default: string }
      ? string
      : string | undefined;

export type FlagValues<T extends FlagSpecs> = { -readonly [K in keyof T]: ValueOf<T[K]> };

/** The flags of `argv` (strict: an unknown flag is a usage error), each else its variable, else its default. */
export function parseCommandFlags<const T extends FlagSpecs>(argv: string[], specs: T, env: NodeJS.ProcessEnv): FlagValues<T> {
  return parseCommandArgs(argv, specs, env, false).values;
}

/** parseCommandFlags for a command that also takes operands (`pidguard test <file>...`). */
export function parseCommandArgs<const T extends FlagSpecs>(argv: string[], specs: T, env: NodeJS.ProcessEnv, allowPositionals = true): { values: FlagValues<T>; positionals: string[] } {
  const options = Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => [name, { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) }]),
  );
  const { values, positionals } = parseFlags(argv, options, allowPositionals);
  const resolved: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const given = values[name];
    if (spec.type === 'boolean') resolved[name] = given === true;
    else if (spec.multiple) resolved[name] = given;
    else resolved[name] = given ?? (spec.env !== undefined ? env[spec.env] : undefined) ?? spec.default;
  }
  return { values: resolved as FlagValues<T>, positionals };
}

const HELP_WIDTH = 100;

/** The flag list of a --help: one entry per declared flag, with its variable and default. */
export function flagsHelp(specs: FlagSpecs): string {
  const entries = Object.entries(specs).map(([name, spec]) => {
    const left = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.value ? ` ${spec.value}` : ''}`;
    const shownDefault = spec.defaultText ?? spec.default;
    const right = `${spec.help}${spec.env ? ` [${spec.env}]` : ''}${shownDefault !== undefined ? ` (default ${shownDefault})` : ''}`;
    return { left, right };
  });
  const column = Math.min(30, Math.max(...entries.map((entry) => entry.left.length)) + 2);
  return entries
    .map(({ left, right }) => {
      const lines = wrap(right, HELP_WIDTH - 2 - column);
      const first = left.length + 2 > column ? [`  ${left}`, `  ${' '.repeat(column)}${lines[0]}`] : [`  ${left.padEnd(column)}${lines[0]}`];
      return [...first, ...lines.slice(1).map((line) => `  ${' '.repeat(column)}${line}`)].join('\n');
    })
    .join('\n');
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  return [...lines, line];
}

/** A command's --help: what it does, its flags from their declaration, what else to know, its exit codes (EXIT_TABLE's unless given). */
export function commandHelp(command: { name: string; usage: string; about: string; flags: FlagSpecs; notes?: string; exitCodes?: string }): string {
  const notes = command.notes ? `\n${command.notes.trimEnd()}\n` : '';
  const flags = flagsHelp({ ...command.flags, help: { type: 'boolean', short: 'h', help: 'this help' } });
  const exitCodes = (command.exitCodes ?? exitCodesHelp(command.name)).split('\n').flatMap((line) => wrap(line, HELP_WIDTH)).join('\n');
  return `${command.usage}\n\n${command.about.trimEnd()}\n\nFlags (environment variable in brackets):\n${flags}\n${notes}\n${exitCodes}\n`;
}
