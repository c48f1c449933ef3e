// fast-json-patch is CommonJS: under Node ESM only its default export (module.exports)
// is reliable, so every use goes through this one module.
import jsonPatch from 'fast-json-patch';
import type { PatchOperation } from './types.js';

/** RFC 6902 operations that turn `before` into `after`. */
export function diff(before: object, after: object): PatchOperation[] {
  return jsonPatch.compare(before, after) as PatchOperation[];
}

/** Applies `patch` to a copy of `document`, validating every operation; throws on an invalid patch. */
export function applyPatch<T>(document: T, patch: readonly PatchOperation[]): T {
  return jsonPatch.applyPatch(structuredClone(document), patch as jsonPatch.Operation[], true, false).newDocument;
}
