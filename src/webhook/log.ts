// Structured logs: one JSON object per line, written to the stream the CLI
// hands in (stderr), so log shippers never have to parse free text.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export function createJsonLogger(stream: NodeJS.WritableStream, minimum: LogLevel = 'info', clock: () => Date = () => new Date()): Logger {
  const threshold = LOG_LEVELS.indexOf(minimum);
  const at = (level: LogLevel) => {
    if (LOG_LEVELS.indexOf(level) < threshold) return () => {};
    return (msg: string, fields?: LogFields) => {
      stream.write(`${JSON.stringify({ time: clock().toISOString(), level, msg, ...fields })}\n`);
    };
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
