// The one wait for the end of a long-running command (serve, agent, audit --watch).

/**
 * Resolves with the first SIGTERM or SIGINT. With `onHangup`, SIGHUP (whose
 * default is to die without a word) calls it instead, and stays handled after
 * the wait ends: during shutdown too it must not kill the process silently.
 */
export function untilTerminated(options: { onHangup?: () => void } = {}): Promise<NodeJS.Signals> {
  if (options.onHangup) process.on('SIGHUP', options.onHangup);
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve(signal);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
