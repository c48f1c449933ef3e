// The lab's replay command: flags are checked before anything is spawned, through the CLI's own runner.
import { PassThrough, Readable } from 'node:stream';
import { runCommand } from '../../../src/cli/main.js';
import { EXIT } from '../../../src/cli/exit-codes.js';
import { replayCommand } from '../../../lab/replay-command.js';

test('a bad --interval is a usage error, before any cgroup or process exists', async () => {
  const stderr = new PassThrough();
  const said: Buffer[] = [];
  stderr.on('data', (chunk: Buffer) => said.push(chunk));
  const code = await runCommand(replayCommand, ['--interval', 'often'], { stdout: new PassThrough(), stderr, stdin: Readable.from(['']), env: {} });
  expect(code).toBe(EXIT.usage);
  expect(Buffer.concat(said).toString()).toContain('--interval must be a duration');
});
