// diff() against an independent oracle: fast-json-patch's applyPatch with
// validation on must turn `before` into exactly `after`, for arbitrary JSON and
// for the engine's case, an `after` that shares untouched subtrees with `before`.
import fc from 'fast-check';
import { applyPatch, diff } from '../../../src/policy/json-patch.js';

// Keys JSON pointers must escape, and keys that look like prototype members.
const key = fc.oneof(fc.constantFrom('a', 'b', 'a/b', '~', '~1', '~0/', '', 'constructor', 'toString', '0'), fc.string({ maxLength: 4 }))
  .filter((k) => k !== '__proto__'); // fast-json-patch refuses __proto__ paths outright
const { json } = fc.letrec((tie) => ({
  json: fc.oneof({ depthSize: 'small' }, fc.constantFrom(null, true, 0, 1.5, '', 'x'), tie('array'), tie('object')),
  array: fc.array(tie('json'), { maxLength: 4 }),
  object: fc.dictionary(key, tie('json'), { maxKeys: 5 }),
}));
const object = fc.dictionary(key, json, { maxKeys: 6 });

/** A copy of `value` with random edits, sharing every subtree the edits did not reach (as pod-copy.ts does). */
function edited(value: unknown, pick: (n: number) => number): unknown {
  if (pick(3) === 0) return value; // shared as is
  if (Array.isArray(value)) {
    const copy = value.map((child) => edited(child, pick));
    if (pick(2) === 0) copy.push({ added: pick(9) });
    if (pick(3) === 0) copy.splice(0, 1);
    return copy;
  }
  if (value !== null && typeof value === 'object') {
    const copy: Record<string, unknown> = {};
    for (const [k, child] of Object.entries(value)) if (pick(4) !== 0) copy[k] = edited(child, pick);
    if (pick(2) === 0) copy[`new/${pick(9)}~`] = [pick(9)];
    return copy;
  }
  return pick(2) === 0 ? value : `changed ${String(value)}`;
}

/** A small deterministic generator, so a failing case replays from its seed. */
function picker(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state % n;
  };
}

describe('diff', () => {
  it('turns any JSON object into any other, as fast-json-patch applies it with validation', () => {
    fc.assert(
      fc.property(object, object, (before, after) => {
        expect(applyPatch(before, diff(before, after))).toEqual(after);
      }),
      { numRuns: 1000 },
    );
  });

  it('turns an object into an edited copy that shares its untouched subtrees', () => {
    fc.assert(
      fc.property(object, fc.integer(), (before, seed) => {
        const after = edited(before, picker(seed)) as Record<string, unknown>;
        expect(applyPatch(before, diff(before, after))).toEqual(after);
      }),
      { numRuns: 1000 },
    );
  });

  it('is empty for equal values and treats undefined properties as absent', () => {
    expect(diff({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toEqual([]);
    expect(diff({ a: 1, gone: undefined }, { a: 1, unset: undefined })).toEqual([]);
    expect(diff({ a: 1 }, { a: undefined })).toEqual([{ op: 'remove', path: '/a' }]);
  });

  it('escapes ~ and / in keys as RFC 6901 asks', () => {
    expect(diff({}, { 'pidguard.io/pids-limit': '1024', 'a~b': 1 })).toEqual([
      { op: 'add', path: '/pidguard.io~1pids-limit', value: '1024' },
      { op: 'add', path: '/a~0b', value: 1 },
    ]);
  });

  it('appends to arrays in order and removes from the end, so every index is valid when applied', () => {
    expect(diff({ env: [1] }, { env: [1, 2, 3] })).toEqual([
      { op: 'add', path: '/env/1', value: 2 },
      { op: 'add', path: '/env/2', value: 3 },
    ]);
    expect(diff({ env: [1, 2, 3] }, { env: [9] })).toEqual([
      { op: 'replace', path: '/env/0', value: 9 },
      { op: 'remove', path: '/env/2' },
      { op: 'remove', path: '/env/1' },
    ]);
  });
});
