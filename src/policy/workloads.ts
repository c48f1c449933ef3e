// Which kinds pidguard judges, and where each keeps the pod it will create:
// the one table the engine, the audit's list calls and the manifests' tests
// (webhook rules, the audit's RBAC) read.

import { isRecord } from './json-value.js';
import type { KubeObject, PodTemplate } from './types.js';

export interface PolicedKind {
  kind: string;
  /** API group; '' is the core group. */
  group: string;
  version: string;
  /** Plural resource name, as in webhook rules, RBAC and list URLs. */
  resource: string;
  /** Keys from the object down to its pod template; [] for a Pod itself. */
  podTemplatePath: readonly string[];
  /** Set for kinds that are usually owned by another policed kind, so the audit can group their pods under it. */
  controlledBy?: string;
}

export const POLICED_KINDS: readonly PolicedKind[] = [
  { kind: 'Pod', group: '', version: 'v1', resource: 'pods', podTemplatePath: [] },
  { kind: 'Deployment', group: 'apps', version: 'v1', resource: 'deployments', podTemplatePath: ['spec', 'template'] },
  { kind: 'StatefulSet', group: 'apps', version: 'v1', resource: 'statefulsets', podTemplatePath: ['spec', 'template'] },
  { kind: 'DaemonSet', group: 'apps', version: 'v1', resource: 'daemonsets', podTemplatePath: ['spec', 'template'] },
  { kind: 'ReplicaSet', group: 'apps', version: 'v1', resource: 'replicasets', podTemplatePath: ['spec', 'template'], controlledBy: 'Deployment' },
  { kind: 'ReplicationController', group: '', version: 'v1', resource: 'replicationcontrollers', podTemplatePath: ['spec', 'template'] },
  { kind: 'Job', group: 'batch', version: 'v1', resource: 'jobs', podTemplatePath: ['spec', 'template'], controlledBy: 'CronJob' },
  { kind: 'CronJob', group: 'batch', version: 'v1', resource: 'cronjobs', podTemplatePath: ['spec', 'jobTemplate', 'spec', 'template'] },
];

const BY_KIND: ReadonlyMap<string, PolicedKind> = new Map(POLICED_KINDS.map((entry) => [entry.kind, entry]));

export const POD_KINDS: readonly string[] = POLICED_KINDS.map((entry) => entry.kind);

export function isPodShaped(kind: string | undefined): boolean {
  return podTemplatePath(kind) !== undefined;
}

/**
 * The pod an object will create, as a live view into `object` (mutating the
 * returned template mutates the object). Undefined if the object has no
 * usable pod spec (the API server's own validation will reject it).
 */
export function podTemplateOf(object: KubeObject): PodTemplate | undefined {
  const path = podTemplatePath(object.kind);
  if (!path) return undefined;
  let node: unknown = object;
  for (const key of path) {
    node = isRecord(node) ? node[key] : undefined;
  }
  if (!isRecord(node) || !isRecord(node.spec) || !Array.isArray(node.spec.containers)) return undefined;
  return node as unknown as PodTemplate;
}

/** Keys from an object of `kind` down to its pod template ([] for a Pod); undefined for kinds without one. */
export function podTemplatePath(kind: string | undefined): readonly string[] | undefined {
  return kind === undefined ? undefined : BY_KIND.get(kind)?.podTemplatePath;
}

/** `v1` or `apps/v1`. */
export function apiVersionOf(entry: PolicedKind): string {
  return entry.group === '' ? entry.version : `${entry.group}/${entry.version}`;
}
