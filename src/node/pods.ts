// The pods of a node as the node checker and agent need them: identity and
// the pids-limit annotation. They come from the API server (src/kube) or from a
// --pods-file (a PodList, a List, a Pod, or an array of Pods; JSON or YAML).

import { InputBudget, InputError, readDocumentsSync, type InputDocument } from '../input/yaml-input.js';

export interface NodePod {
  uid: string;
  namespace: string;
  name: string;
  nodeName?: string;
  annotations: Record<string, string>;
}

interface PodLike {
  kind?: unknown;
  metadata?: { uid?: unknown; name?: unknown; namespace?: unknown; annotations?: unknown };
  spec?: { nodeName?: unknown };
}

/** A Kubernetes Pod object (from a file or the API) as a NodePod; undefined without a uid. */
export function toNodePod(object: PodLike): NodePod | undefined {
  const metadata = object.metadata ?? {};
  if (typeof metadata.uid !== 'string' || metadata.uid === '') return undefined;
  const annotations: Record<string, string> = {};
  if (metadata.annotations && typeof metadata.annotations === 'object') {
    for (const [key, value] of Object.entries(metadata.annotations as Record<string, unknown>)) {
      if (typeof value === 'string') annotations[key] = value;
    }
  }
  const pod: NodePod = {
    uid: metadata.uid.toLowerCase(),
    namespace: typeof metadata.namespace === 'string' ? metadata.namespace : 'default',
    name: typeof metadata.name === 'string' ? metadata.name : '(unnamed)',
    annotations,
  };
  if (typeof object.spec?.nodeName === 'string') pod.nodeName = object.spec.nodeName;
  return pod;
}

/** `kubectl get pods -o yaml` of a node full of pods (110 by default, managedFields and all) fits many times over. */
export const MAX_PODS_FILE_BYTES = 64 * 1024 * 1024;
const MAX_PODS_FILE_DOCUMENTS = 100_000;

const podsFileBudget = () => new InputBudget(MAX_PODS_FILE_BYTES, MAX_PODS_FILE_DOCUMENTS, 'a node\'s pods fit far below it');

/** The pods in the documents of a pods file. Objects that are not Pods are an error, so typos do not pass silently. */
export function podsOf(documents: readonly InputDocument[]): NodePod[] {
  const pods: NodePod[] = [];
  for (const { source, value } of documents) {
    if (value === null || value === undefined) continue;
    const objects: unknown[] = Array.isArray(value) ? value : typeof value === 'object' && Array.isArray((value as { items?: unknown }).items) ? (value as { items: unknown[] }).items : [value];
    objects.forEach((object) => {
      const index = pods.length;
      if (!object || typeof object !== 'object' || (object as PodLike).kind !== 'Pod') {
        throw new InputError(`${source}: item ${index} is not a Pod (kind: ${String((object as PodLike | null)?.kind)})`);
      }
      const pod = toNodePod(object as PodLike);
      if (!pod) throw new InputError(`${source}: pod ${String((object as PodLike).metadata?.name)} has no metadata.uid (the cgroup path names pods by uid)`);
      pods.push(pod);
    });
  }
  return pods;
}

export function readPodsFile(path: string): NodePod[] {
  return podsOf(readDocumentsSync(path, { budget: podsFileBudget(), label: `pods file ${path}` }));
}
