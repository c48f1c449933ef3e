// What a command may touch of the outside world, passed in so tests can run
// commands in-process with their own streams and environment.

import type { FlagSpecs } from './flags.js';

export interface CliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
}

export interface Command {
  name: string;
  summary: string;
  /** Every flag the command accepts, declared once (src/cli/flags.ts). */
  flags: FlagSpecs;
  /** Full help text, printed by `pidguard <name> --help`: commandHelp() of the flags. */
  help: string;
  /** Runs the command; resolves to the process exit code. */
  run(argv: string[], io: CliIO): Promise<number>;
}

/** A failure the user can act on: printed as `pidguard <command>: <message>` with no stack. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
    this.name = 'CliError';
  }
}
