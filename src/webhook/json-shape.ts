// How a request body becomes a JSON value of bounded shape: nesting depth
// (deep nesting overflows the stack of whatever walks the parsed value
// recursively: JSON.stringify, String() of arrays, the engine's own walkers)
// and the number of objects and arrays (each costs ~60 bytes of heap for 3
// bytes of `{},`, so a 7 MiB body could otherwise become ~220 MiB).
//
// Small bodies (every ordinary review) are parsed first and their depth is
// checked on the parsed value, a walk that stops at the limit: 0.6 us against
// 2.7 us for the byte scan on the benchmark's reviews. That is safe because
// V8's JSON.parse is iterative (a million levels parse without a stack
// overflow), a body of N bytes holds at most N/2 objects and arrays (far below
// the cap), and its deepest possible nesting parses in about 2 ms. Larger
// bodies are scanned byte by byte before JSON.parse, so a deep or huge one is
// refused before it takes memory or the parser's time (200k levels of arrays
// take ~0.2-0.3 s to parse, the scan stops at level 101).

import { WebhookError } from './errors.js';

/** Far above any Kubernetes object: a CronJob's pod template affinity, inside an AdmissionReview, is ~20 deep. */
export const MAX_JSON_DEPTH = 100;
/**
 * Pod JSON has one object or array per ~50 bytes, its managedFields one per ~16: an UPDATE carrying
 * two 1.5 MiB objects (etcd's default limit) of nothing but managedFields stays below 200k. Parsing
 * 200k empty objects takes ~13 MiB of heap; at 500k, attackers sending them in a loop took the
 * server's RSS 220 MiB over idle (bench/webhook-attack.bench.mjs), at 200k 100 MiB.
 */
export const MAX_JSON_CONTAINERS = 200_000;

/** Bodies up to this size are parsed before their shape is checked (see above); larger ones are scanned first. */
export const PARSE_FIRST_MAX_BYTES = 32 * 1024;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * The body's JSON value, or a WebhookError: MALFORMED_JSON, or JSON_TOO_COMPLEX when it nests deeper than
 * MAX_JSON_DEPTH or (only possible above 400 KB) holds more than MAX_JSON_CONTAINERS objects and arrays.
 */
export function parseJsonBody(body: Buffer): unknown {
  const scanFirst = body.length > PARSE_FIRST_MAX_BYTES;
  if (scanFirst) checkJsonShape(body);
  let value: unknown;
  try {
    // JSON.parse creates `__proto__` and `constructor` keys as ordinary own properties; nothing
    // downstream merges request data into existing objects (see the hostile-keys tests).
    value = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new WebhookError('MALFORMED_JSON', (error as Error).message);
  }
  if (!scanFirst) checkJsonDepth(value);
  return value;
}

/** Throws JSON_TOO_COMPLEX when a parsed JSON value nests deeper than MAX_JSON_DEPTH; recurses at most MAX_JSON_DEPTH + 1 calls deep. */
export function checkJsonDepth(value: unknown): void {
  if (typeof value === 'object' && value !== null && deeperThanLimit(value, 1)) {
    throw new WebhookError('JSON_TOO_COMPLEX', `nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
}

/** Whether `container`, at nesting level `depth`, holds anything below MAX_JSON_DEPTH. */
function deeperThanLimit(container: object, depth: number): boolean {
  if (depth > MAX_JSON_DEPTH) return true;
  if (Array.isArray(container)) {
    for (let index = 0; index < container.length; index++) {
      const item: unknown = container[index];
      if (typeof item === 'object' && item !== null && deeperThanLimit(item, depth + 1)) return true;
    }
    return false;
  }
  // for-in, not Object.values: no array per object (0.6 against 1.0 us per review). JSON.parse's
  // objects inherit only Object.prototype's non-enumerable properties, and an own "__proto__" key
  // is read as the own property it is.
  for (const key in container) {
    const item: unknown = (container as Record<string, unknown>)[key];
    if (typeof item === 'object' && item !== null && deeperThanLimit(item, depth + 1)) return true;
  }
  return false;
}

/** Throws JSON_TOO_COMPLEX when the body nests deeper than MAX_JSON_DEPTH or opens more than MAX_JSON_CONTAINERS objects and arrays. */
export function checkJsonShape(body: Uint8Array): void {
  let depth = 0;
  let containers = 0;
  const length = body.length;
  for (let i = 0; i < length; i++) {
    const byte = body[i];
    if (byte === QUOTE) {
      // Skip the string in this loop: most of a review is short strings, and a native
      // indexOf per string cost more than the bytes it skips (4.4 vs 3.6 us on a 2.7 KB review).
      for (i++; i < length; i++) {
        const inString = body[i];
        if (inString === QUOTE) break;
        if (inString === BACKSLASH) i++; // the escaped byte cannot close the string
      }
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      if (++depth > MAX_JSON_DEPTH) throw new WebhookError('JSON_TOO_COMPLEX', `nested deeper than ${MAX_JSON_DEPTH} levels (at byte ${i})`);
      if (++containers > MAX_JSON_CONTAINERS) throw new WebhookError('JSON_TOO_COMPLEX', `more than ${MAX_JSON_CONTAINERS} objects and arrays`);
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      depth--;
    }
  }
}
