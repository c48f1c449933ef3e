// PLACEHOLDER: replaced by the certs command's implementation.
import { CliError, type Command } from './io.js';

export const certsCommand: Command = {
  name: 'certs',
  summary: '',
  help: 'pidguard certs: not built yet',
  async run() {
    throw new CliError('not built yet', 2);
  },
};
