// Flag parsing for every command: node:util parseArgs in strict mode, with
// errors turned into usage errors (exit 2) and environment-variable fallbacks.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError } from './io.js';

export const USAGE_EXIT = 2;

export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (error) {
    throw new CliError(`${(error as Error).message} (see --help)`, USAGE_EXIT);
  }
}

/** A flag's value, else the environment variable's, else the default. */
export function flagOrEnv(flag: string | undefined, env: NodeJS.ProcessEnv, variable: string, fallback: string): string;
export function flagOrEnv(flag: string | undefined, env: NodeJS.ProcessEnv, variable: string): string | undefined;
export function flagOrEnv(flag: string | undefined, env: NodeJS.ProcessEnv, variable: string, fallback?: string): string | undefined {
  return flag ?? env[variable] ?? fallback;
}

/** Parses a whole number flag, naming the flag in the error. */
export function integerFlag(value: string, flag: string, min: number, max: number): number {
  const number = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || number < min || number > max) {
    throw new CliError(`${flag} must be a whole number from ${min} to ${max}, got "${value}"`, USAGE_EXIT);
  }
  return number;
}

/** Parses a ratio flag (0 < r <= 1), naming the flag in the error. */
export function ratioFlag(value: string, flag: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0 || number > 1) {
    throw new CliError(`${flag} must be a number above 0 and at most 1, got "${value}"`, USAGE_EXIT);
  }
  return number;
}
