// Shared flag parsers and the commands that use them.
import { durationFlag, logLevelFlag } from '../../../src/cli/args.js';
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
