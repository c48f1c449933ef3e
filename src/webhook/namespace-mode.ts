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
}

export async function modeForRequest(request: AdmissionRequest, defaultMode: Mode, labels: NamespaceLabelSource): Promise<RequestMode> {
  if (isNamespaceRequest(request) || request.namespace === undefined) return { mode: defaultMode };
  const found: NamespaceLabelLookup = await labels.labelsOf(request.namespace);
  if (!found.found) {
    return {
      mode: defaultMode,
      warning: `pidguard could not read the labels of namespace "${request.namespace}" (${found.reason}); applying the cluster default mode ${defaultMode} (fail closed)`,
      lookup: 'unavailable',
    };
  }
  return { ...resolveMode(found.labels, defaultMode), lookup: found.from };
}

function isNamespaceRequest(request: AdmissionRequest): boolean {
  return request.kind.kind === 'Namespace' || request.object?.kind === 'Namespace' || request.oldObject?.kind === 'Namespace';
}
