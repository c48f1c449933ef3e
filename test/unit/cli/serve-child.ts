// `pidguard serve` from this checkout's bin/ (built dist/, as `npm start` runs it) as a child
// process, its JSON log lines collected as they arrive.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const root = new URL('../../../', import.meta.url).pathname;

export interface ServeChild {
  child: ChildProcess;
  /** Every stderr line so far, parsed. */
  lines: Array<Record<string, unknown>>;
}

export function spawnServe(args: readonly string[], options: { env: NodeJS.ProcessEnv; cwd?: string }): ServeChild {
  const child = spawn(process.execPath, [join(root, 'bin/pidguard.js'), 'serve', ...args], { env: options.env, cwd: options.cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  const lines: Array<Record<string, unknown>> = [];
  let buffered = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    for (const line of parts) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  return { child, lines };
}

/** The first line logged with this `msg`, waiting for it; throws, with the log, if serve exits first or after `timeoutMs`. */
export async function loggedLine({ child, lines }: ServeChild, msg: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = lines.find((candidate) => candidate.msg === msg);
    if (line) return line;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no "${msg}" line from serve: ${JSON.stringify(lines)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
