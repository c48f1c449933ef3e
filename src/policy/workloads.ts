// Which kinds pidguard judges, and where each keeps the pod it will create.

import { isRecord } from './json-value.js';
import type { KubeObject, PodTemplate } from './types.js';

/** Path from the object to its pod template; [] means the object is itself a Pod. */
const POD_TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

export const POD_KINDS: readonly string[] = Object.keys(POD_TEMPLATE_PATHS);

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
  return kind !== undefined && Object.hasOwn(POD_TEMPLATE_PATHS, kind) ? POD_TEMPLATE_PATHS[kind] : undefined;
}
