// The mode a request is judged in. Namespace objects always get the cluster
// default (their own label must not exempt them from the label guard); other
// objects get their namespace's label. Labels that cannot be had mean the
// default mode plus a warning: fail closed, never an exemption.

import type { NamespaceLabelLookup, NamespaceLabelSource } from '../kube/namespace-labels.js';
import { resolveMode } from '../policy/mode.js';
import type { Mode } from '../policy/types.js';
import type { AdmissionRequest } from './admission-review.js';

export interface RequestMode {
  mode: Mode;
  /** Why the mode is not what the namespace label says (invalid label, labels unavailable). */
  warning?: string;
  /** How the labels were found, for metrics; undefined when no lookup was needed. */
  lookup?: 'cache' | 'api' | 'file' | 'unavailable';
  /** The namespace's labels, when found (the PID budget ceiling depends on them). */
  labels?: Readonly<Record<string, string>>;
}

/** Whether a review may wait for its namespace's labels (asked at most once, only when it would). */
export interface LookupWait {
  mayWait(): boolean;
}

/**
 * Synchronous when the label source answers at once (cache, file); a promise only while it asks the
 * API server, and only if `wait` (asked then) allows it: otherwise the default mode, fail closed.
 */
export function modeForRequest(request: AdmissionRequest, defaultMode: Mode, labels: NamespaceLabelSource, wait?: LookupWait): RequestMode | Promise<RequestMode> {
  if (isNamespaceRequest(request) || request.namespace === undefined) return { mode: defaultMode };
  const namespace = request.namespace;
  const found = labels.labelsOf(namespace);
  if (!(found instanceof Promise)) return modeOf(found, namespace, defaultMode);
  // The read goes on (it is shared, and never rejects); this review just does not wait for it.
  if (wait && !wait.mayWait()) return modeOf({ found: false, reason: 'not waited for: the body budget is full with reviews waiting for namespace labels' }, namespace, defaultMode);
  return found.then((lookup) => modeOf(lookup, namespace, defaultMode));
}

function modeOf(found: NamespaceLabelLookup, namespace: string, defaultMode: Mode): RequestMode {
  if (!found.found) {
    return {
      mode: defaultMode,
      warning: `pidguard could not read the labels of namespace "${namespace}" (${found.reason}); applying the cluster default mode ${defaultMode} (fail closed)`,
      lookup: 'unavailable',
    };
  }
  const { mode, warning } = resolveMode(found.labels, defaultMode);
  return warning === undefined ? { mode, lookup: found.from, labels: found.labels } : { mode, warning, lookup: found.from, labels: found.labels };
}

function isNamespaceRequest(request: AdmissionRequest): boolean {
  return request.kind.kind === 'Namespace' || request.object?.kind === 'Namespace' || request.oldObject?.kind === 'Namespace';
}
