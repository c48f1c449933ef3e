// `pidguard policies`: the active policy config compiled into in-API-server
// admission policies (ValidatingAdmissionPolicy, MutatingAdmissionPolicy and
// their bindings), printed as YAML for `kubectl apply -f -` or kustomize.

import { stringify } from 'yaml';
import { compileAdmissionPolicies } from '../policy/admission-policies/index.js';
import { loadConfig } from './config-file.js';
import { EXIT } from './exit-codes.js';
import { commandHelp, parseCommandFlags, type FlagSpecs } from './flags.js';
import type { Command } from './io.js';

const FLAGS = {
  config: { type: 'string', value: 'FILE', help: 'policy configuration YAML', env: 'PIDGUARD_CONFIG', defaultText: 'built-in' },
} as const satisfies FlagSpecs;

const HELP = commandHelp({
  name: 'policies',
  usage: 'Usage: pidguard policies [--config FILE]',
  about: `pidguard policies: compile the policy configuration into admission policies that run inside the
API server (admissionregistration.k8s.io/v1, Kubernetes 1.36+): a backstop that keeps denying
BestEffort pods, capping .NET pods and guarding pidguard's namespace labels while the webhook
is down. Prints them as YAML on stdout:

  pidguard policies --config config.yaml | kubectl apply -f -

See docs/ADMISSION-POLICIES.md for what they cover and what stays webhook-only.`,
  flags: FLAGS,
});

/** The YAML stream (YAML 1.1, so that `off` is quoted for kubectl's YAML 1.1 reader) of every policy and binding for `config` (also what manifests/components/admission-policies holds). */
export function renderPolicies(objects: readonly object[]): string {
  return objects.map((object) => stringify(object, { lineWidth: 0, version: '1.1' })).join('---\n');
}

export const policiesCommand: Command = {
  name: 'policies',
  summary: 'Print the policy compiled into in-API-server admission policies (YAML)',
  flags: FLAGS,
  help: HELP,
  async run(argv, io) {
    const values = parseCommandFlags(argv, FLAGS, io.env);
    const config = await loadConfig(values.config);
    io.stdout.write(renderPolicies(compileAdmissionPolicies(config)));
    return EXIT.ok;
  },
};
