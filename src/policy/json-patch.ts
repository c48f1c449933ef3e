// RFC 6902 JSON patches: diff() builds the patch the mutating webhook returns;
// applyPatch() applies one with full validation (the CLI and the tests).
//
// diff() is pidguard's own rather than fast-json-patch's compare(): compare()
// deep-copies every added value through a JSON round trip, which was half of
// the engine's time on a .NET pod. Here the mutated copy shares every untouched
// subtree with the original (see pod-copy.ts), so the walk stops at the first
// identical reference and values are handed over as they are. The property
// tests check diff() against fast-json-patch's validating applyPatch().
//
// fast-json-patch is CommonJS: under Node ESM only its default export
// (module.exports) is reliable, so every use goes through this one module.
import jsonPatch from 'fast-json-patch';
import type { PatchOperation } from './types.js';
import { isRecord } from './json-value.js';

/**
 * Operations that turn `before` into `after` (JSON values; properties set to
 * undefined count as absent). The operations hold values of `after` itself,
 * not copies: do not change `after` while the patch is in use.
 */
export function diff(before: unknown, after: unknown): PatchOperation[] {
  const operations: PatchOperation[] = [];
  if (before !== after) walk(before, after, '', operations);
  return operations;
}

function walk(before: unknown, after: unknown, path: string, operations: PatchOperation[]): void {
  if (Array.isArray(before) && Array.isArray(after)) {
    const common = Math.min(before.length, after.length);
    for (let index = 0; index < common; index += 1) {
      if (before[index] !== after[index]) walk(before[index], after[index], `${path}/${index}`, operations);
    }
    for (let index = common; index < after.length; index += 1) operations.push({ op: 'add', path: `${path}/${index}`, value: after[index] });
    // Removed from the end, so each index is still valid when its operation applies.
    for (let index = before.length - 1; index >= common; index -= 1) operations.push({ op: 'remove', path: `${path}/${index}` });
    return;
  }
  if (isRecord(before) && isRecord(after)) {
    for (const key of Object.keys(before)) {
      const from = before[key];
      const to = after[key];
      if (from === to || from === undefined) continue; // the path is built only for what changed
      if (to === undefined || !Object.hasOwn(after, key)) operations.push({ op: 'remove', path: `${path}/${escapeKey(key)}` });
      else walk(from, to, `${path}/${escapeKey(key)}`, operations);
    }
    for (const key of Object.keys(after)) {
      if (after[key] !== undefined && (before[key] === undefined || !Object.hasOwn(before, key))) {
        operations.push({ op: 'add', path: `${path}/${escapeKey(key)}`, value: after[key] });
      }
    }
    return;
  }
  operations.push({ op: 'replace', path, value: after });
}

/** RFC 6901: `~` is written `~0` and `/` is written `~1`. */
function escapeKey(key: string): string {
  return key.includes('~') || key.includes('/') ? key.replaceAll('~', '~0').replaceAll('/', '~1') : key;
}

/** Applies `patch` to a copy of `document`, validating every operation; throws on an invalid patch. */
export function applyPatch<T>(document: T, patch: readonly PatchOperation[]): T {
  return jsonPatch.applyPatch(structuredClone(document), patch as jsonPatch.Operation[], true, false).newDocument;
}
