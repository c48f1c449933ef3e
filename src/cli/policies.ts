// `pidguard policies`: the active policy config compiled into in-API-server
// admission policies (ValidatingAdmissionPolicy, MutatingAdmissionPolicy and
// their bindings), printed as YAML for `kubectl apply -f -` or kustomize.

import { stringify } from 'yaml';
import { compileAdmissionPolicies } from '../policy/admission-policies/index.js';
import { parseFlags } from './args.js';
import { loadConfig } from './config-file.js';
import type { Command } from './io.js';

const HELP = `Usage: pidguard policies [--config FILE]

Compiles the policy configuration into admission policies that run inside the
API server (admissionregistration.k8s.io/v1, Kubernetes 1.36+): a backstop that
keeps denying BestEffort pods, capping .NET pods and guarding pidguard's
namespace labels while the webhook is down. Prints them as YAML on stdout:

  pidguard policies --config config.yaml | kubectl apply -f -

See docs/ADMISSION-POLICIES.md for what they cover and what stays webhook-only.

Flags:
      --config <file>     policy configuration YAML (default: built-in defaults)
  -h, --help              this help

Exit codes: 0 printed, 2 bad flags or config.
`;

/** The YAML stream (YAML 1.1, so that `off` is quoted for kubectl's YAML 1.1 reader) of every policy and binding for `config` (also what manifests/components/admission-policies holds). */
export function renderPolicies(objects: readonly object[]): string {
  return objects.map((object) => stringify(object, { lineWidth: 0, version: '1.1' })).join('---\n');
}

export const policiesCommand: Command = {
  name: 'policies',
  summary: 'Print the policy compiled into in-API-server admission policies (YAML)',
  help: HELP,
  async run(argv, io) {
    const { values } = parseFlags(argv, { config: { type: 'string' } });
    const config = await loadConfig(values.config);
    io.stdout.write(renderPolicies(compileAdmissionPolicies(config)));
    return 0;
  },
};
