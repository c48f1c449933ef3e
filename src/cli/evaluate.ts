// PLACEHOLDER: replaced by the evaluate command's implementation.
import { CliError, type Command } from './io.js';

export const evaluateCommand: Command = {
  name: 'evaluate',
  summary: '',
  help: 'pidguard evaluate: not built yet',
  async run() {
    throw new CliError('not built yet', 2);
  },
};
