// Structured logs for every long-running command (serve, agent, audit --watch):
// one JSON object per line, written to the stream the CLI hands in (stderr), so
// log shippers never have to parse free text.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Fields of a line; `time`, `level` and `msg` are the logger's own. */
export type LogFields = Record<string, unknown> & { time?: never; level?: never; msg?: never };

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** Whether lines of this level are written: a hot path asks before it puts a line together. */
  enabled(level: LogLevel): boolean;
  /** Writes a line whose fields are already JSON members (`,"a":1,"b":2`), as a lineFields() writer makes them. */
  members(level: LogLevel, msg: string, members: string): void;
}

export interface JsonLoggerOptions {
  minimum?: LogLevel;
  /** Milliseconds since the epoch (injectable for tests). */
  now?: () => number;
  /**
   * Gather the lines of one event-loop turn into one write. stderr on a file or pipe is
   * written synchronously, and at thousands of decisions a second one write per line
   * costs more than the line itself.
   */
  batch?: boolean;
  /** Fields on every line, e.g. `{ component: 'agent' }`. */
  fields?: LogFields;
}

/** Lines gathered before a batch is written even within one turn. */
const BATCH_LIMIT_CHARS = 64 * 1024;

export function createJsonLogger(stream: NodeJS.WritableStream, options: JsonLoggerOptions = {}): Logger {
  const threshold = LOG_LEVELS.indexOf(options.minimum ?? 'info');
  const now = options.now ?? Date.now;
  // The line is put together as text rather than by spreading the fields into one
  // object first: a decision line is written per admission review.
  const ownFields = objectBody(options.fields ?? {});
  let pending = '';
  const flush = () => {
    const text = pending;
    pending = '';
    if (text) stream.write(text);
  };
  const emit = options.batch
    ? (line: string) => {
        if (pending === '') setImmediate(flush);
        pending += line;
        if (pending.length >= BATCH_LIMIT_CHARS) flush();
      }
    : (line: string) => stream.write(line);
  let stampedAt = Number.NaN;
  let stamp = '';
  const timestamp = () => {
    const ms = now();
    if (ms !== stampedAt) {
      stampedAt = ms;
      stamp = new Date(ms).toISOString();
    }
    return stamp;
  };
  const enabled = (level: LogLevel) => LOG_LEVELS.indexOf(level) >= threshold;
  const heads = Object.fromEntries(LOG_LEVELS.map((level) => [level, `","level":"${level}","msg":`])) as Record<LogLevel, string>;
  const line = (level: LogLevel, msg: string, members: string) => emit(`{"time":"${timestamp()}${heads[level]}${JSON.stringify(msg)}${ownFields}${members}}\n`);
  const at = (level: LogLevel) => (enabled(level) ? (msg: string, fields?: LogFields) => line(level, msg, fields ? objectBody(fields) : '') : () => {});
  return {
    debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), enabled,
    members: (level, msg, members) => {
      if (enabled(level)) line(level, msg, members);
    },
  };
}

/**
 * The writer of a line with a fixed table of fields: each key is encoded once, here, and each
 * value as the line is written, without an object of fields in between. Undefined values are
 * left out, as JSON.stringify leaves them out of an object.
 */
export function lineFields<T>(table: ReadonlyArray<readonly [key: string, value: (source: T) => unknown]>): (source: T) => string {
  const keys = table.map(([key]) => `,${JSON.stringify(key)}:`);
  const values = table.map(([, value]) => value);
  return (source) => {
    let members = '';
    for (let index = 0; index < values.length; index += 1) {
      const value = values[index]!(source);
      if (value === undefined) continue;
      members += keys[index]! + JSON.stringify(value);
    }
    return members;
  };
}

/** `,"a":1,"b":2` for `{a: 1, b: 2}`: the members, ready to follow others. */
function objectBody(fields: Record<string, unknown>): string {
  const json = JSON.stringify(fields);
  return json.length > 2 ? `,${json.slice(1, -1)}` : '';
}
