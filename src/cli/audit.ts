// PLACEHOLDER: replaced by the audit command's implementation.
import { CliError, type Command } from './io.js';

export const auditCommand: Command = {
  name: 'audit',
  summary: '',
  help: 'pidguard audit: not built yet',
  async run() {
    throw new CliError('not built yet', 2);
  },
};
