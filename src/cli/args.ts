// Flag parsing for every command: node:util parseArgs in strict mode, with
// errors turned into usage errors (exit 2) and environment-variable fallbacks.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { LOG_LEVELS, type LogLevel } from '../log.js';
import { EXIT } from './exit-codes.js';
import { CliError } from './io.js';

export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (error) {
    throw new CliError(`${(error as Error).message} (see --help)`, EXIT.usage);
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
    throw new CliError(`${flag} must be a whole number from ${min} to ${max}, got "${value}"`, EXIT.usage);
  }
  return number;
}

/** A namespace name flag: a DNS label (RFC 1123, at most 63 characters), as the API server requires. */
export function namespaceFlag(value: string, flag: string): string {
  if (value.length > 63 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value)) {
    throw new CliError(`${flag} must be a namespace name (lower-case letters, digits and '-', at most 63 characters), got ${JSON.stringify(value.slice(0, 80))}`, EXIT.usage);
  }
  return value;
}

/** Parses a size flag (a whole number of bytes, or with a Ki, Mi or Gi suffix), naming the flag in the error. */
export function byteSizeFlag(value: string, flag: string, min: number, max: number): number {
  const match = /^(\d+)(Ki|Mi|Gi)?$/.exec(value.trim());
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 } as const;
  const bytes = match ? Number(match[1]) * (match[2] ? unit[match[2] as keyof typeof unit] : 1) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < min || bytes > max) {
    throw new CliError(`${flag} must be a size in bytes such as 1048576, 512Ki or 32Mi (from ${min} to ${max} bytes), got "${value}"`, EXIT.usage);
  }
  return bytes;
}

/** Parses a ratio flag (0 < r <= 1), naming the flag in the error. */
export function ratioFlag(value: string, flag: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0 || number > 1) {
    throw new CliError(`${flag} must be a number above 0 and at most 1, got "${value}"`, EXIT.usage);
  }
  return number;
}

/** Parses a duration flag (500ms, 10s, 5m, 2h) into milliseconds, naming the flag in the error. */
export function durationFlag(value: string, flag: string, minMs = 100, maxMs = 86_400_000): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value.trim());
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
  const ms = match ? Number(match[1]) * unit[match[2] as keyof typeof unit] : NaN;
  if (!Number.isFinite(ms) || ms < minMs || ms > maxMs) {
    throw new CliError(`${flag} must be a duration such as 500ms, 10s or 5m (from ${minMs}ms to ${maxMs / 3_600_000}h), got "${value}"`, EXIT.usage);
  }
  return ms;
}

/** Parses --log-level, naming the flag and the allowed levels in the error. */
export function logLevelFlag(value: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(value)) {
    throw new CliError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${value}"`, EXIT.usage);
  }
  return value as LogLevel;
}
