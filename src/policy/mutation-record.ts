// The pidguard.io/mutations record (LimitRanger-style) and the other texts
// built from a list of per-container items. They are bounded: Kubernetes caps
// a pod's annotations at 256 KiB in total, and a pod with a thousand .NET
// containers must not be rejected because of pidguard's own record.

/** Budget of the pidguard.io/mutations annotation value, in UTF-8 bytes. */
export const MUTATION_RECORD_MAX_BYTES = 8 * 1024;
/** Budget of a list of warnings joined into one audit annotation, in UTF-8 bytes. */
export const WARNINGS_MAX_BYTES = 4 * 1024;

export interface RecordedChange {
  ruleId: string;
  container?: string;
  summary: string;
}

/**
 * `dotnet-guard set: container "app": cpu request 100m, ...; annotation ... | pids-ceiling set: ...`.
 * Pod-level changes are always kept; container entries are kept while they fit
 * the budget, and the rest are counted: `... and 1,234 more containers`.
 */
export function mutationRecord(changes: readonly RecordedChange[], maxBytes = MUTATION_RECORD_MAX_BYTES): string {
  const all = render(changes);
  if (all.length * 3 <= maxBytes) return all; // no UTF-8 text is longer than 3 bytes a UTF-16 unit
  const podLevel = changes.filter((change) => change.container === undefined);
  let budget = maxBytes - byteLength(render(podLevel)) - 64; // room for the "more" note
  const kept = new Set<RecordedChange>(podLevel);
  const omitted = new Set<string>();
  for (const change of changes) {
    if (change.container === undefined) continue;
    const size = byteLength(entryOf(change)) + 2;
    if (omitted.size === 0 && size <= budget) {
      kept.add(change);
      budget -= size;
    } else {
      omitted.add(change.container);
    }
  }
  const text = render(changes.filter((change) => kept.has(change)));
  return omitted.size === 0 ? text : `${text}; ... and ${count(omitted.size)} more ${omitted.size === 1 ? 'container' : 'containers'}`;
}

/**
 * Joins `items` with `separator` while they fit `maxBytes`; the rest are counted:
 * `... and 12 more`. A first item too long on its own (a container name is not
 * validated before the mutating webhooks run) is cut.
 */
export function joinWithin(items: readonly string[], separator: string, maxBytes: number): string {
  const room = maxBytes - 32;
  let text = '';
  let bytes = 0;
  for (let index = 0; index < items.length; index += 1) {
    const size = byteLength(items[index]!) + (index === 0 ? 0 : byteLength(separator));
    if (index > 0 && bytes + size > room) return `${text}${separator}... and ${count(items.length - index)} more`;
    // A UTF-16 unit is at most 3 bytes, so room / 3 units always fit.
    text = index > 0 ? `${text}${separator}${items[index]}` : size > room ? `${items[0]!.slice(0, Math.floor(room / 3))}...` : items[0]!;
    bytes += size;
  }
  return text;
}

function render(changes: readonly RecordedChange[]): string {
  const groups: string[] = [];
  let ruleId: string | undefined;
  let entries: string[] = [];
  for (const change of changes) {
    if (change.ruleId !== ruleId) {
      if (ruleId !== undefined) groups.push(`${ruleId} set: ${entries.join('; ')}`);
      ruleId = change.ruleId;
      entries = [];
    }
    entries.push(entryOf(change));
  }
  if (ruleId !== undefined) groups.push(`${ruleId} set: ${entries.join('; ')}`);
  return groups.join(' | ');
}

/** One change as the record and the summaries show it: `container "app": cpu request 100m, ...`, or the summary alone. */
export function entryOf(change: Pick<RecordedChange, 'container' | 'summary'>): string {
  return change.container === undefined ? change.summary : `container "${change.container}": ${change.summary}`;
}

/** 1234 -> "1,234". */
function count(n: number): string {
  return n.toLocaleString('en-US');
}

function byteLength(text: string): number {
  let bytes = 0;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    // A surrogate pair is 4 bytes: counted on its high half (a lone low half is at most 3, counted 0).
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code >= 0xd800 && code < 0xdc00 ? 4 : code >= 0xdc00 && code < 0xe000 ? 0 : 3;
  }
  return bytes;
}
