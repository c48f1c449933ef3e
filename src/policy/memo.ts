// Memos for pure functions of short strings that repeat across a cluster:
// quantities ("250m", "512Mi") and image references. A pod's review parses
// the same few of each again and again, and BigInt arithmetic and glob
// matching cost more than a Map lookup. Bounded for hostile input: a key
// longer than maxKeyLength is computed and not kept, and a full memo starts
// over, so a stream of distinct keys costs at most one Map of `capacity`
// entries plus the uncached time. Results must be immutable: callers share them.

export function boundedMemo<R>(compute: (key: string) => R, capacity = 1024, maxKeyLength = 512): (key: string) => R {
  let entries = new Map<string, R>();
  return (key) => {
    if (key.length > maxKeyLength) return compute(key);
    const found = entries.get(key);
    if (found !== undefined || entries.has(key)) return found as R;
    const result = compute(key);
    if (entries.size >= capacity) entries = new Map();
    entries.set(key, result);
    return result;
  };
}

/**
 * A boundedMemo for each `owner` object (a compiled pattern list): `compute(owner, key)` is
 * remembered per owner, and an owner's memo goes with the owner (a reloaded config).
 */
export function boundedMemoPer<O extends object, R>(compute: (owner: O, key: string) => R): (owner: O, key: string) => R {
  const memos = new WeakMap<O, (key: string) => R>();
  return (owner, key) => {
    let memo = memos.get(owner);
    if (!memo) {
      memo = boundedMemo((subject) => compute(owner, subject));
      memos.set(owner, memo);
    }
    return memo(key);
  };
}
