// Static namespace labels from a YAML file (`--namespaces-file`), for running
// the webhook without a cluster: either a mapping `namespace: {label: value}`
// or a NamespaceList / List as printed by `kubectl get namespaces -o yaml`.

import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { isRecord } from '../policy/workloads.js';
import { copyLabels, type NamespaceLabelSource } from './namespace-labels.js';

export class NamespacesFileError extends Error {
  constructor(path: string, problem: string) {
    super(`namespaces file ${path}: ${problem}`);
    this.name = 'NamespacesFileError';
  }
}

export async function loadNamespacesFile(path: string): Promise<NamespaceLabelSource> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new NamespacesFileError(path, `cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new NamespacesFileError(path, `not valid YAML: ${(error as Error).message}`);
  }
  try {
    return staticNamespaceLabels(parseNamespaceLabels(document ?? {}));
  } catch (error) {
    throw new NamespacesFileError(path, (error as Error).message);
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
