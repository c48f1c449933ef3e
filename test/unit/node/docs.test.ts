// docs/NODE.md and the code must not drift: every agent metric and every flag
// of `node`, `agent` and `replay` is documented, and so are the Event reasons.

import { readFileSync } from 'node:fs';
import { agentCommand } from '../../../src/cli/agent.js';
import { nodeCommand } from '../../../src/cli/node.js';
import { replayCommand } from '../../../lab/replay-command.js';
import { CONDITION_REASONS, EVENT_REASONS, PID_PRESSURE_RISK_CONDITION } from '../../../src/node/agent-reporter.js';
import { ENFORCEMENT_FAILURES } from '../../../src/node/enforce.js';
import { AgentMetrics } from '../../../src/node/agent-metrics.js';

const doc = readFileSync(new URL('../../../docs/NODE.md', import.meta.url), 'utf8');

test('every agent metric is documented', async () => {
  const names = (await new AgentMetrics().registry.getMetricsAsJSON()).map((metric) => metric.name);
  expect(names.length).toBeGreaterThanOrEqual(12);
  for (const name of names) expect(doc).toContain(`\`${name}\``);
});

test.each([nodeCommand, agentCommand, replayCommand])('every flag of pidguard $name is documented', (command) => {
  const flags = Object.keys(command.flags);
  expect(flags.length).toBeGreaterThanOrEqual(5);
  for (const flag of flags) expect(doc).toContain(`--${flag}`);
});

test('every Event reason, the node condition and its reasons are documented', () => {
  for (const reason of [...Object.values(EVENT_REASONS), PID_PRESSURE_RISK_CONDITION, ...Object.values(CONDITION_REASONS)]) expect(doc).toContain(`\`${reason}\``);
});

test('every reason a limit cannot be applied is documented in the failures table', () => {
  for (const failure of ENFORCEMENT_FAILURES) expect(doc).toMatch(new RegExp(`^\\| \`${failure}\` \\|`, 'm'));
});
