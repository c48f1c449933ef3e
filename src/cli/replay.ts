// PLACEHOLDER: replaced by the replay command's implementation.
import { CliError, type Command } from './io.js';

export const replayCommand: Command = {
  name: 'replay',
  summary: '',
  help: 'pidguard replay: not built yet',
  async run() {
    throw new CliError('not built yet', 2);
  },
};
