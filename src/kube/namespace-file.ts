// Static namespace labels from a YAML file (`--namespaces-file`), for running
// the webhook without a cluster: either a mapping `namespace: {label: value}`
// or a NamespaceList / List as printed by `kubectl get namespaces -o yaml`.

import { InputBudget, InputError, readOneDocument } from '../input/yaml-input.js';
import { isRecord } from '../policy/json-value.js';
import { copyLabels, type NamespaceLabelSource } from './namespace-labels.js';

/** Labels of every namespace of a large cluster, as `kubectl get namespaces -o yaml` prints them, fit many times over. */
export const MAX_NAMESPACES_FILE_BYTES = 32 * 1024 * 1024;

/** The file's labels; an InputError naming the file when it cannot be read or has the wrong shape. */
export async function loadNamespacesFile(path: string): Promise<NamespaceLabelSource> {
  const label = `namespaces file ${path}`;
  const budget = new InputBudget(MAX_NAMESPACES_FILE_BYTES, 1, 'a namespaces file holds labels only');
  const document = await readOneDocument(path, { budget, label });
  try {
    return staticNamespaceLabels(parseNamespaceLabels(document ?? {}));
  } catch (error) {
    throw new InputError(`${label}: ${(error as Error).message}`);
  }
}

/** Namespace name -> labels, from either accepted document shape. */
export function parseNamespaceLabels(document: unknown): Map<string, Record<string, string>> {
  if (!isRecord(document)) throw new Error('must be a mapping of namespace names to labels, or a NamespaceList');
  const namespaces = new Map<string, Record<string, string>>();
  if (document.kind === 'NamespaceList' || document.kind === 'List') {
    if (!Array.isArray(document.items)) throw new Error(`${document.kind} has no items list`);
    document.items.forEach((item: unknown, index) => {
      const metadata = isRecord(item) ? item.metadata : undefined;
      if (!isRecord(metadata) || typeof metadata.name !== 'string' || metadata.name === '') {
        throw new Error(`items[${index}] has no metadata.name`);
      }
      namespaces.set(metadata.name, labelsAt(metadata.labels, `items[${index}].metadata.labels`));
    });
    return namespaces;
  }
  for (const [name, labels] of Object.entries(document)) {
    namespaces.set(name, labelsAt(labels, `${name}`));
  }
  return namespaces;
}

function labelsAt(value: unknown, where: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) throw new Error(`${where} must be a mapping of label names to values`);
  return copyLabels(value, where);
}

export function staticNamespaceLabels(namespaces: ReadonlyMap<string, Record<string, string>>): NamespaceLabelSource {
  return {
    kind: 'file',
    labelsOf(namespace) {
      const labels = namespaces.get(namespace);
      if (labels === undefined) return { found: false, reason: `namespace "${namespace}" is not in the namespaces file` };
      return { found: true, labels, from: 'file' };
    },
    isReady: () => true,
    state: () => 'static',
    size: () => namespaces.size,
    stop: async () => {},
  };
}
