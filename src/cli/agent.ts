// PLACEHOLDER: replaced by the agent command's implementation.
import { CliError, type Command } from './io.js';

export const agentCommand: Command = {
  name: 'agent',
  summary: '',
  help: 'pidguard agent: not built yet',
  async run() {
    throw new CliError('not built yet', 2);
  },
};
