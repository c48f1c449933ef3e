// The cluster audit: lists namespaces, then every Pod and workload page by page,
// and judges each with the webhook's engine. Objects are evaluated as enforce
// would judge them; each finding carries its namespace's real mode.

import type { PolicyConfig } from '../policy/config.js';
import { evaluate } from '../policy/engine.js';
import { MODE_LABEL, SYSTEM_NAMESPACES } from '../policy/keys.js';
import { resolveMode } from '../policy/mode.js';
import type { KubeObject } from '../policy/types.js';
import { KubeApiError, listObjects, type KubeTransport, type ListTarget } from '../kube/transport.js';
import { apiVersionOf, POLICED_KINDS } from '../policy/workloads.js';
import { FindingCollector, type AuditReport, type NamespaceInfo } from './findings.js';
import {
  PIDS_ENFORCEMENT_REASON, PIDS_ENFORCEMENT_RULE, STRICTER_PIDS_MAX_REASON, STRICTER_PIDS_MAX_RULE, UNGUARDED_POD_REASON,
  stricterPidsMax, unenforcedPidsLimit, unguardedPodPids, type ObservedPodPids,
} from './pids-enforcement.js';

export interface AuditOptions {
  config: PolicyConfig;
  /** Only this namespace; all when undefined. */
  namespace?: string;
  pageSize: number;
  timeoutMs: number;
  /** Pod cgroups seen by node reports, by pod UID; pods not in it are not judged on enforcement. */
  observedPods?: ReadonlyMap<string, ObservedPodPids>;
}

const NAMESPACES: ListTarget = { resource: 'namespaces', groupVersionPath: '/api/v1', kind: 'Namespace', apiVersion: 'v1' };

/**
 * Every policed kind, as list targets: kinds that other kinds control (ReplicaSets, Jobs) first, so
 * their pods can be grouped under the Deployment or CronJob; Pods last.
 */
const WORKLOADS: readonly ListTarget[] = [
  ...POLICED_KINDS.filter((entry) => entry.controlledBy !== undefined),
  ...POLICED_KINDS.filter((entry) => entry.controlledBy === undefined && entry.kind !== 'Pod'),
  ...POLICED_KINDS.filter((entry) => entry.kind === 'Pod'),
].map((entry) => ({
  resource: entry.resource,
  groupVersionPath: entry.group === '' ? `/api/${entry.version}` : `/apis/${entry.group}/${entry.version}`,
  kind: entry.kind,
  apiVersion: apiVersionOf(entry),
}));
const CONTROLLED_KINDS: ReadonlySet<string> = new Set(POLICED_KINDS.filter((entry) => entry.controlledBy !== undefined).map((entry) => entry.kind));

export interface AuditRun {
  report: AuditReport;
  /** Pods evaluated (the scale figure). */
  pods: number;
}

export async function runAudit(transport: KubeTransport, options: AuditOptions): Promise<AuditRun> {
  const labels = new Map<string, Record<string, string>>();
  const namespaces = await readNamespaces(transport, options, labels);
  const collector = new FindingCollector(namespaces);
  let pods = 0;
  for (const target of WORKLOADS) {
    for await (const page of listObjects<KubeObject>(transport, target, { namespace: options.namespace, pageSize: options.pageSize })) {
      for (const object of page) {
        if (CONTROLLED_KINDS.has(target.kind)) collector.rememberController(object);
        const namespace = object.metadata?.namespace ?? '';
        if (!namespaces.has(namespace)) namespaces.set(namespace, namespaceInfo(namespace, undefined, options.config));
        // 'validating': the verdict and the missing mutations, without building a patch nobody applies.
        const namespaceLabels = labels.get(namespace);
        const evaluation = evaluate({ object, operation: 'CREATE', mode: 'enforce', config: options.config, phase: 'validating', namespaceLabels });
        collector.add(object, evaluation);
        if (target.kind !== 'Pod') continue;
        pods += 1;
        const observed = options.observedPods?.get(object.metadata?.uid ?? '');
        const unenforced = unenforcedPidsLimit(object, observed, options.config, namespaceLabels);
        if (unenforced) collector.addFinding(namespace, object, PIDS_ENFORCEMENT_RULE, PIDS_ENFORCEMENT_REASON, unenforced);
        const stricter = stricterPidsMax(object, observed, options.config, namespaceLabels);
        if (stricter) collector.addFinding(namespace, object, STRICTER_PIDS_MAX_RULE, STRICTER_PIDS_MAX_REASON, stricter);
        // A pod the webhook would have rejected or changed got past it: say what its node actually caps it at.
        const unguarded = evaluation.violations.length + evaluation.mutations.length > 0 ? unguardedPodPids(object, observed) : undefined;
        if (unguarded) collector.addFinding(namespace, object, PIDS_ENFORCEMENT_RULE, UNGUARDED_POD_REASON, unguarded);
      }
    }
  }
  return { report: collector.report(), pods };
}

/** The namespaces' infos; their labels go into `labels` (the PID budget ceiling depends on them). */
async function readNamespaces(transport: KubeTransport, options: AuditOptions, labels: Map<string, Record<string, string>>): Promise<Map<string, NamespaceInfo>> {
  const namespaces = new Map<string, NamespaceInfo>();
  const add = (object: KubeObject) => {
    const name = object.metadata?.name ?? '';
    namespaces.set(name, namespaceInfo(name, object.metadata?.labels, options.config));
    if (object.metadata?.labels) labels.set(name, object.metadata.labels);
  };
  if (options.namespace) {
    // Listed by name, not read: the audit's ClusterRole lists namespaces and gets none, so a GET
    // answered 403 under the shipped service account. The CLI checked the name is a DNS label.
    const name = options.namespace;
    const path = `/api/v1/namespaces?fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`;
    for await (const page of transport.listPages<KubeObject>(path, `list namespace ${name}`, 1)) page.items.forEach(add);
    if (!namespaces.has(name)) throw new KubeApiError(404, 'NotFound', `namespace "${name}" not found`);
    return namespaces;
  }
  for await (const page of listObjects<KubeObject>(transport, NAMESPACES, { pageSize: options.pageSize })) page.forEach(add);
  return namespaces;
}

function namespaceInfo(name: string, labels: Record<string, string> | undefined, config: PolicyConfig): NamespaceInfo {
  const resolution = resolveMode(labels, config.defaultMode);
  const labelled = labels?.[MODE_LABEL] !== undefined && resolution.warning === undefined;
  const info: NamespaceInfo = { name, mode: resolution.mode, modeSource: labelled ? 'label' : 'default' };
  if (SYSTEM_NAMESPACES.includes(name)) info.exemptBecause = 'system namespace';
  else if (resolution.mode === 'off') info.exemptBecause = 'mode off';
  if (resolution.warning) info.warning = resolution.warning;
  return info;
}
