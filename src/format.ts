// Numbers as pidguard writes them for people: in the node report, the verdict's
// sentences, Events and the replay's table.

/** 31635 -> "31,635" */
export function formatCount(value: number): string {
  return value.toLocaleString('en-US');
}

/** 0.7361 -> "73.6%" */
export function formatPercent(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}
