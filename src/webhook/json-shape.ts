// A linear byte scan of a request body before JSON.parse: it bounds nesting
// depth (deep nesting overflows the stack of whatever walks the parsed value
// recursively) and the number of objects and arrays (each costs ~60 bytes of
// heap for 3 bytes of `{},`, so a 7 MiB body could otherwise become ~220 MiB).
// Brackets inside strings do not count; the scan does not validate the JSON,
// JSON.parse does that next.

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

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

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
