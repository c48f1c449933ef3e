// Every exit code of every command, in one table. The README's exit-code table
// is tested against EXIT_TABLE (test/unit/cli/exit-codes.test.ts), and the
// commands' help texts print their row of it.
//
// The rule behind the numbers: 2 means "fix the invocation" (a bad flag, or a
// file the user named, config, manifests, namespaces file, pods file,
// kubeconfig, node report, that cannot be read or is invalid); 1 for a server
// means "cannot start here" (a port in use, an unusable serving certificate:
// the environment, which a restart may find fixed). For the one-shot commands
// 1 is the answer the caller asked about (something denied, findings, a warning).

import type { VerdictLevel } from '../node/verdict.js';

export const EXIT = {
  ok: 0,
  /** evaluate: something would be denied; audit: findings. */
  findings: 1,
  /** test: an expectation not met. */
  mismatch: 1,
  /** serve, agent, certs: the environment refused (port in use, certificate unusable, directory not writable). */
  cannotStart: 1,
  /** Bad flags, or an input file the user named unreadable, over its limit or invalid. */
  usage: 2,
  /** node and agent --once: the verdict's level... */
  warning: 1,
  critical: 2,
  /** ...or the node's /proc could not be read. */
  unreadable: 3,
  /** EX_SOFTWARE (sysexits.h): an unexpected error, a bug. */
  software: 70,
} as const;

/** The exit code of a node verdict (`pidguard node`, `agent --once`). */
export const VERDICT_EXIT: Readonly<Record<VerdictLevel, number>> = { ok: EXIT.ok, warning: EXIT.warning, critical: EXIT.critical };

type ExitRow = Readonly<Partial<Record<0 | 1 | 2 | 3, string>>>;

/** What each code means per command, as the README's table says it. */
export const EXIT_TABLE: Readonly<Record<string, ExitRow>> = {
  evaluate: {
    [EXIT.ok]: 'everything would be admitted',
    [EXIT.findings]: 'something would be denied',
    [EXIT.usage]: 'unreadable input or input over a limit (file and document index named), an object the API server would reject, two Namespace documents of one name with different labels, bad flags or config',
  },
  audit: {
    [EXIT.ok]: 'no findings',
    [EXIT.findings]: 'findings',
    [EXIT.usage]: 'API server unreachable, permission missing (verb and resource named), timeout, bad flags, config, kubeconfig or node report',
  },
  node: {
    [EXIT.ok]: 'ok',
    [EXIT.warning]: 'warning',
    [EXIT.critical]: 'critical; also bad flags, pods file or config (message on stderr)',
    [EXIT.unreadable]: 'could not read `/proc`',
  },
  serve: {
    [EXIT.ok]: 'clean shutdown on SIGTERM',
    [EXIT.cannotStart]: 'cannot start (certificate, port in use)',
    [EXIT.usage]: 'bad flags, config, namespaces file or kubeconfig',
  },
  agent: {
    [EXIT.ok]: 'clean shutdown on SIGTERM',
    [EXIT.cannotStart]: 'cannot start (metrics port in use)',
    [EXIT.usage]: 'bad flags, config, pods file or kubeconfig',
  },
  'agent --once': { [EXIT.ok]: 'as `node`', [EXIT.warning]: 'as `node`', [EXIT.critical]: 'as `node`', [EXIT.unreadable]: 'as `node`' },
  certs: {
    [EXIT.ok]: 'certificates written',
    [EXIT.cannotStart]: 'cannot write to `--out`',
    [EXIT.usage]: 'bad flags',
  },
  test: {
    [EXIT.ok]: 'every expectation met',
    [EXIT.mismatch]: 'an expectation not met (expected and actual printed per test, object and field)',
    [EXIT.usage]: 'unreadable or invalid test file, manifest or config (file and key named), an expectation naming an object twice in its manifests, bad flags',
  },
  policies: {
    [EXIT.ok]: 'printed',
    [EXIT.usage]: 'bad flags or config',
  },
};

/** `Exit codes: 0 ...; 1 ...` for a command's --help, from EXIT_TABLE (its own row and rows like `agent --once`). */
export function exitCodesHelp(command: string): string {
  const rows = Object.entries(EXIT_TABLE).filter(([name]) => name === command || name.startsWith(`${command} `));
  if (rows.length === 0) throw new Error(`no exit codes for ${command}`);
  return rows
    .map(([name, row]) => {
      const items = Object.entries(row).map(([code, meaning]) => {
        const same = /^as `([a-z]+)`$/.exec(meaning)?.[1]; // "as `node`": that command's meaning of the code
        return `${code} ${(same ? (EXIT_TABLE[same]?.[Number(code) as 0] ?? meaning) : meaning).replaceAll('`', '')}`;
      });
      return `${name === command ? 'Exit codes' : `Exit codes of ${name}`}: ${items.join('; ')}${name === command ? `; ${EXIT.software} an unexpected error (a bug)` : ''}.`;
    })
    .join('\n');
}
