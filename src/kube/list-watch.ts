// A list+watch cache (what client-go calls a reflector and store): list the
// collection page by page, watch from the list's resourceVersion, follow
// bookmarks, list again when the server says the version is gone (410), and
// retry failures after a delay. The cache survives API outages: it keeps what
// it last saw. It keeps only what valueOf makes of each object.

import { KubeApiError, type KubeTransport, type WatchEvent } from './transport.js';

export interface WatchedObject {
  metadata?: { resourceVersion?: string };
}

export interface ListWatchOptions<T, V> {
  /** The collection, e.g. `/api/v1/namespaces`, optionally with a query (a field selector). */
  path: string;
  /** What the list and watch do, for messages: `list and watch namespaces`. */
  attempted: string;
  keyOf(object: T): string | undefined;
  /** What is kept of an object; undefined: nothing (and an entry for its key is dropped). */
  valueOf(object: T): V | undefined;
  retryDelayMs(failures: number): number;
  pageSize?: number;
  /** Per list page (default: the transport's call timeout). */
  listTimeoutMs?: number;
  onListed?(size: number): void;
  /** The watch is open: the cache is current. */
  onWatching?(): void;
  /** The list or watch failed; it is tried again after retryInMs. */
  onError?(error: KubeApiError, retryInMs: number): void;
}

const DEFAULT_PAGE_SIZE = 500;
/** A watch that lasted less than this before the server ended it is not opened again at once. */
const MIN_WATCH_MS = 1000;

export class ListWatch<T extends WatchedObject, V> {
  private cache = new Map<string, V>();
  private resourceVersion = '';
  private listed = false;
  private failures = 0;
  private stopped = false;
  private current: { abort: () => void } | undefined;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly transport: KubeTransport,
    private readonly options: ListWatchOptions<T, V>,
  ) {}

  /** Lists once and starts watching; rejects when that first list fails (the loop goes on retrying). */
  async start(): Promise<void> {
    try {
      await this.list();
    } finally {
      this.loop();
    }
  }

  get(key: string): V | undefined {
    return this.cache.get(key);
  }

  values(): V[] {
    return [...this.cache.values()];
  }

  size(): number {
    return this.cache.size;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    this.current?.abort();
  }

  private async list(): Promise<void> {
    const fresh = new Map<string, V>();
    let version = '';
    for await (const page of this.transport.listPages<T>(this.options.path, this.options.attempted, this.options.pageSize ?? DEFAULT_PAGE_SIZE, this.options.listTimeoutMs)) {
      for (const object of page.items) this.put(fresh, object);
      version = page.resourceVersion;
    }
    if (this.stopped) return;
    this.cache = fresh;
    this.resourceVersion = version;
    this.listed = true;
    this.options.onListed?.(fresh.size);
  }

  private loop(): void {
    if (this.stopped) return;
    let watchedSince = Date.now();
    const run = async () => {
      if (!this.listed || this.resourceVersion === '') await this.list();
      if (this.stopped) return;
      watchedSince = Date.now();
      const watch = this.transport.watch<T>(this.options.path, this.resourceVersion, this.options.attempted, (event) => this.apply(event), () => {
        this.failures = 0;
        this.options.onWatching?.();
      });
      this.current = watch;
      await watch.done;
    };
    run().then(
      () => {
        // A watch the server ends at once (a proxy cutting it) is opened again after a delay, not in a tight loop.
        if (Date.now() - watchedSince >= MIN_WATCH_MS) return this.loop();
        this.retry = setTimeout(() => this.loop(), this.options.retryDelayMs(1));
        this.retry.unref();
      },
      (error: unknown) => {
        if (this.stopped) return;
        const failure = error instanceof KubeApiError ? error : new KubeApiError(undefined, '', `${this.options.attempted}: ${(error as Error).message}`);
        if (failure.status === 410) this.listed = false;
        this.failures += 1;
        const retryInMs = this.options.retryDelayMs(this.failures);
        this.options.onError?.(failure, retryInMs);
        this.retry = setTimeout(() => this.loop(), retryInMs);
        this.retry.unref();
      },
    );
  }

  private apply(event: WatchEvent<T>): void {
    const version = event.object?.metadata?.resourceVersion;
    if (version) this.resourceVersion = version;
    if (event.type === 'BOOKMARK') return;
    if (event.type === 'DELETED') {
      const key = this.options.keyOf(event.object);
      if (key !== undefined) this.cache.delete(key);
      return;
    }
    this.put(this.cache, event.object);
  }

  private put(into: Map<string, V>, object: T): void {
    const key = this.options.keyOf(object);
    if (key === undefined) return;
    const value = this.options.valueOf(object);
    if (value === undefined) into.delete(key);
    else into.set(key, value);
  }
}
