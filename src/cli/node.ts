// PLACEHOLDER: replaced by the node command's implementation.
import { CliError, type Command } from './io.js';

export const nodeCommand: Command = {
  name: 'node',
  summary: '',
  help: 'pidguard node: not built yet',
  async run() {
    throw new CliError('not built yet', 2);
  },
};
