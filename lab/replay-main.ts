// The launcher of `npm run replay` (lab/dist/lab/replay-main.js, built by `npm run build:lab`).
import { runCommand } from '../src/cli/main.js';
import { replayCommand } from './replay-command.js';

process.exitCode = await runCommand(replayCommand, process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
});
