// Small helpers for the texts pidguard writes into warnings and records.

/** The value in JSON quotes, cut to 64 characters: a user's value may be 256 KiB and a message must stay readable. */
export function quotedValue(value: string): string {
  const shown = value.length > 64 ? `${value.slice(0, 64)}...` : value;
  return JSON.stringify(shown);
}
