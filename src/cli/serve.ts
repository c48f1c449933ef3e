// PLACEHOLDER: replaced by the serve command's implementation.
import { CliError, type Command } from './io.js';

export const serveCommand: Command = {
  name: 'serve',
  summary: '',
  help: 'pidguard serve: not built yet',
  async run() {
    throw new CliError('not built yet', 2);
  },
};
