// Where the webhook learns a namespace's labels (and so its pidguard mode).
// Every source answers either the labels or why it cannot; the caller turns
// "cannot" into the cluster default mode plus a warning (fail closed), never
// into an exemption.

export type NamespaceLabelLookup =
  | { found: true; labels: Readonly<Record<string, string>>; from: 'cache' | 'api' | 'file' }
  | { found: false; reason: string };

export type NamespaceSourceKind = 'informer' | 'file' | 'none';

/** synced: the cache holds every namespace; syncing: not yet listed; failing: the last list/watch failed. */
export type NamespaceSourceState = 'synced' | 'syncing' | 'failing' | 'static' | 'none' | 'stopped';

export interface NamespaceLabelSource {
  readonly kind: NamespaceSourceKind;
  /**
   * Answers at once from a cache or a file; a promise only when the API server
   * must be asked (a namespace the cache does not hold yet). The admission hot
   * path stays synchronous that way.
   */
  labelsOf(namespace: string): NamespaceLabelLookup | Promise<NamespaceLabelLookup>;
  /** Ready to serve: a static source always is; a cache once it has listed every namespace. */
  isReady(): boolean;
  state(): NamespaceSourceState;
  /** Namespaces currently known to the source. */
  size(): number;
  stop(): Promise<void>;
}

/** No cluster and no --namespaces-file: every lookup fails closed, with the reason in the warning. */
export function noNamespaceLabels(): NamespaceLabelSource {
  const reason = 'no namespace label source (no cluster configured and no --namespaces-file)';
  return {
    kind: 'none',
    labelsOf: () => ({ found: false, reason }),
    isReady: () => true,
    state: () => 'none',
    size: () => 0,
    stop: async () => {},
  };
}

/** A label map as its own plain object, so keys like `__proto__` stay ordinary data. */
export function copyLabels(labels: Record<string, unknown>, where: string): Record<string, string> {
  const copy: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels)) {
    if (typeof value !== 'string') throw new Error(`${where}: label ${JSON.stringify(key)} must be a string, got ${value === null ? 'null' : typeof value}`);
    Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return copy;
}
