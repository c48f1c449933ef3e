// `npm run replay`: the PID-exhaustion incident replayed in throwaway cgroups
// on this machine, without and with pidguard, side by side. A command of the
// repository, not of the product: it spawns processes, so it lives outside src/.

import { CgroupSandboxError } from './cgroup-sandbox.js';
import { runScenario, type ReplayOptions, type ScenarioOutcome } from './replay.js';
import { formatCount } from '../src/format.js';
import { durationFlag, integerFlag } from '../src/cli/args.js';
import { EXIT } from '../src/cli/exit-codes.js';
import { commandHelp, parseCommandFlags, type FlagSpecs } from '../src/cli/flags.js';
import { CliError, type CliIO, type Command } from '../src/cli/io.js';
import { formatTable } from '../src/cli/table.js';

const FLAGS = {
  'node-budget': { type: 'string', value: 'N', help: "the node's PID budget", default: '2000' },
  'pod-limit': { type: 'string', value: 'N', help: "the bomb pod's pidguard.io/pids-limit", default: '300' },
  rate: { type: 'string', value: 'N', help: 'threads the bomb starts per second', default: '500' },
  interval: { type: 'string', value: 'DURATION', help: "the agent's scan interval", default: '250ms' },
  'cgroup-root': { type: 'string', value: 'DIR', help: 'cgroup mount root', default: '/sys/fs/cgroup' },
  python: { type: 'string', value: 'PATH', help: 'the interpreter that runs the thread bomb', default: 'python3' },
  json: { type: 'boolean', help: 'the two outcomes as JSON' },
} as const satisfies FlagSpecs;

const HELP = commandHelp({
  name: 'replay',
  usage: 'Usage: npm run replay -- [flags]      (root; needs a pids cgroup hierarchy and python3)',
  about: `Replays the PID-exhaustion incident safely in cgroups, with and without pidguard.

A cgroup stands for the node: its pids.max is the node's PID budget (its
pid_max). In a pod-shaped child cgroup a process starts threads without end,
as the incident's .NET services did. Run 1: nothing stops it; it takes the
budget and another pod can no longer start a thread. Run 2: the pidguard agent
(this process, its normal code path) enforces the pod's pidguard.io/pids-limit.
Everything is removed afterwards.`,
  flags: FLAGS,
  exitCodes: `Exit ${EXIT.ok} when pidguard held the bomb to its limit, kept the node's headroom and
named the pod within one scan interval; ${EXIT.findings} otherwise; ${EXIT.usage} for bad flags or no usable pids cgroup.`,
});

export const replayCommand: Command = {
  name: 'replay',
  summary: 'Replay the PID-exhaustion incident safely in cgroups, with and without pidguard',
  flags: FLAGS,
  help: HELP,
  async run(argv: string[], io: CliIO): Promise<number> {
    const values = parseCommandFlags(argv, FLAGS, io.env);
    const nodeBudget = integerFlag(values['node-budget'], '--node-budget', 50, 20000);
    const podLimit = integerFlag(values['pod-limit'], '--pod-limit', 10, nodeBudget - 10);
    const say = (line: string) => void io.stderr.write(`${line}\n`);
    const options: ReplayOptions = {
      nodeBudget,
      podLimit,
      threadsPerSecond: integerFlag(values.rate, '--rate', 1, 100000),
      agentIntervalMs: durationFlag(values.interval, '--interval'),
      cgroupRoot: values['cgroup-root'],
      python: values.python,
      say,
    };

    let without: ScenarioOutcome;
    let withAgent: ScenarioOutcome;
    try {
      say(`replay: node budget ${nodeBudget} PIDs, bomb pod pids-limit ${podLimit}, ${options.threadsPerSecond} threads/s, agent every ${options.agentIntervalMs} ms`);
      say('run 1/2: without pidguard');
      without = await runScenario(options, false);
      say('run 2/2: with the pidguard agent enforcing the pod\'s pids-limit');
      // The same time as run 1 took, so the bomb had the same chance.
      withAgent = await runScenario(options, true, without.durationS);
    } catch (error) {
      if (error instanceof CgroupSandboxError) throw new CliError(`cannot replay here: ${error.message}`, EXIT.usage);
      throw error;
    }

    const held = withAgent.bombThreads <= podLimit && withAgent.otherPodCanStartThread && withAgent.detectedAfterS !== undefined && withAgent.detectedAfterS <= options.agentIntervalMs / 1000 + 0.1;
    if (values.json) {
      io.stdout.write(`${JSON.stringify({ nodeBudget, podLimit, threadsPerSecond: options.threadsPerSecond, agentIntervalMs: options.agentIntervalMs, withoutPidguard: without, withPidguard: withAgent, pidguardHeld: held }, null, 2)}\n`);
    } else {
      io.stdout.write(renderSideBySide(without, withAgent, podLimit, options.agentIntervalMs));
      io.stdout.write(`\n${held ? 'pidguard held the bomb to its limit, the node kept its headroom, and the agent named the pod within one scan interval.' : 'pidguard did NOT hold the bomb as expected (see above).'}\n`);
    }
    return held ? EXIT.ok : EXIT.findings;
  },
};

function renderSideBySide(without: ScenarioOutcome, withAgent: ScenarioOutcome, podLimit: number, intervalMs: number): string {
  const seconds = (value: number | undefined) => (value === undefined ? '-' : `${value.toFixed(2)} s`);
  const detection = (outcome: ScenarioOutcome) =>
    outcome.withPidguard ? (outcome.detectedAfterS === undefined ? 'not named' : `${seconds(outcome.detectedAfterS)} after the first refusal (interval ${(intervalMs / 1000).toFixed(2)} s)`) : 'never (nothing watches)';
  const rows = [
    ['threads taken by the bomb pod', formatCount(without.bombThreads), formatCount(withAgent.bombThreads)],
    ['node headroom left', `${formatCount(without.nodeHeadroom)} of ${formatCount(without.nodeBudget)}`, `${formatCount(withAgent.nodeHeadroom)} of ${formatCount(withAgent.nodeBudget)}`],
    ['threads refused to the bomb pod', formatCount(without.refusedForks), formatCount(withAgent.refusedForks)],
    ['first refusal after', seconds(without.firstRefusalAfterS), seconds(withAgent.firstRefusalAfterS)],
    ['another pod can start a thread', without.otherPodCanStartThread ? 'yes' : 'NO (EAGAIN)', withAgent.otherPodCanStartThread ? 'yes' : 'NO (EAGAIN)'],
    ['time to detection', detection(without), detection(withAgent)],
  ];
  const table = formatTable(['', 'without pidguard', `with pidguard (pids-limit ${podLimit})`], rows);
  const said = withAgent.agentSaid.length > 0 ? `\nthe agent said:\n${withAgent.agentSaid.map((line) => `  ${line}`).join('\n')}\n` : '';
  return `\n${table}${said}`;
}
