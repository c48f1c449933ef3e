// The test files of `pidguard test`: their shape (read strictly: an unknown key
// is a typo, not an ignored expectation), the field paths they name, and the
// comparison of an expectation with what the engine did, as a list of
// mismatches that say where, what was expected and what came out.
// Everything here is linear in the test file and the objects compared: paths
// are parsed by hand (no regex sees them), nesting is bounded.

import { isRecord } from '../policy/json-value.js';
import { MODES, type KubeObject, type Mode } from '../policy/types.js';
import { InputError } from '../input/yaml-input.js';

export const DECISIONS = ['allowed', 'mutated', 'denied', 'would-mutate', 'would-deny', 'skipped'] as const;
export type Decision = (typeof DECISIONS)[number];

/** One step of a field path: a map key, a list index, or the list item whose `field` equals a value (`[name=api]`). */
export type PathSegment = { key: string } | { index: number } | { field: string; equals: string };

export interface FieldExpectation {
  path: string;
  segments: PathSegment[];
  /** null: the field must be absent (or null). */
  value: unknown;
}

export interface ObjectExpectation {
  kind: string;
  name: string;
  namespace?: string;
  decision?: Decision;
  /** The ids of the rules that deny it (or would, in audit mode), in any order; [] = none. */
  denyingRules?: string[];
  /** The ids of the rules that change it (or its pods), in any order; [] = none. */
  mutatingRules?: string[];
  /** Each a piece of one admission warning, as many as there are warnings; [] = none. */
  warnings?: string[];
  fields: FieldExpectation[];
  /** A subset of the object as the API server would store it (Pods with pidguard's patch applied). */
  matches?: unknown;
}

export interface TestCase {
  name: string;
  /** Paths as written (relative to the test file). */
  manifests: string[];
  config?: string;
  mode?: Mode;
  namespaceLabels?: Record<string, string>;
  expect: ObjectExpectation[];
}

export interface TestSuite {
  config?: string;
  tests: TestCase[];
}

export const TEST_API_VERSION = 'pidguard.io/v1alpha1';
const MAX_PATH_LENGTH = 1024;
const MAX_PATH_SEGMENTS = 64;
/** Deeper than any Kubernetes object; stops a pathological expectation before the stack does. */
const MAX_DEPTH = 100;

/** The suite in `document` (from `source`); an InputError naming the test and the key otherwise. */
export function parseTestSuite(document: unknown, source: string): TestSuite {
  const at = (where: string, problem: string) => new InputError(`${source}: ${where}: ${problem}`);
  const top = record(document, 'the test file', source);
  onlyKeys(top, ['apiVersion', 'kind', 'config', 'tests'], 'the test file', source);
  if (top.apiVersion !== TEST_API_VERSION || top.kind !== 'Test') throw at('the test file', `must start with apiVersion: ${TEST_API_VERSION} and kind: Test`);
  if (!Array.isArray(top.tests) || top.tests.length === 0) throw at('tests', 'must be a non-empty list');
  const suite: TestSuite = { tests: top.tests.map((value, index) => parseTestCase(value, `tests[${index}]`, source)) };
  if (top.config !== undefined) suite.config = text(top.config, 'config', source);
  return suite;
}

function parseTestCase(value: unknown, where: string, source: string): TestCase {
  const item = record(value, where, source);
  onlyKeys(item, ['name', 'manifests', 'config', 'mode', 'namespaceLabels', 'expect'], where, source);
  const name = text(item.name, `${where}.name`, source);
  const manifests = texts(item.manifests, `${where}.manifests`, source);
  if (manifests.length === 0) throw new InputError(`${source}: ${where}.manifests: must name at least one file`);
  if (!Array.isArray(item.expect) || item.expect.length === 0) throw new InputError(`${source}: ${where}.expect: must be a non-empty list`);
  const test: TestCase = { name, manifests, expect: item.expect.map((e, i) => parseExpectation(e, `${where}.expect[${i}]`, source)) };
  if (item.config !== undefined) test.config = text(item.config, `${where}.config`, source);
  if (item.mode !== undefined) {
    if (!MODES.includes(item.mode as Mode)) throw new InputError(`${source}: ${where}.mode: must be one of ${MODES.join(', ')}`);
    test.mode = item.mode as Mode;
  }
  if (item.namespaceLabels !== undefined) {
    const labels = record(item.namespaceLabels, `${where}.namespaceLabels`, source);
    for (const [key, label] of Object.entries(labels)) text(label, `${where}.namespaceLabels.${key}`, source);
    test.namespaceLabels = labels as Record<string, string>;
  }
  return test;
}

function parseExpectation(value: unknown, where: string, source: string): ObjectExpectation {
  const item = record(value, where, source);
  onlyKeys(item, ['kind', 'name', 'namespace', 'decision', 'denyingRules', 'mutatingRules', 'warnings', 'fields', 'matches'], where, source);
  const expectation: ObjectExpectation = { kind: text(item.kind, `${where}.kind`, source), name: text(item.name, `${where}.name`, source), fields: [] };
  if (item.namespace !== undefined) expectation.namespace = text(item.namespace, `${where}.namespace`, source);
  if (item.decision !== undefined) {
    if (!DECISIONS.includes(item.decision as Decision)) throw new InputError(`${source}: ${where}.decision: must be one of ${DECISIONS.join(', ')}`);
    expectation.decision = item.decision as Decision;
  }
  if (item.denyingRules !== undefined) expectation.denyingRules = texts(item.denyingRules, `${where}.denyingRules`, source);
  if (item.mutatingRules !== undefined) expectation.mutatingRules = texts(item.mutatingRules, `${where}.mutatingRules`, source);
  if (item.warnings !== undefined) expectation.warnings = texts(item.warnings, `${where}.warnings`, source);
  if (item.fields !== undefined) {
    const fields = record(item.fields, `${where}.fields`, source);
    expectation.fields = Object.entries(fields).map(([path, expected]) => {
      try {
        return { path, segments: parseFieldPath(path), value: expected };
      } catch (error) {
        throw new InputError(`${source}: ${where}.fields: ${(error as Error).message}`);
      }
    });
  }
  if (item.matches !== undefined) {
    if (depthOf(item.matches) > MAX_DEPTH) throw new InputError(`${source}: ${where}.matches: nested deeper than ${MAX_DEPTH} levels`);
    expectation.matches = item.matches;
  }
  return expectation;
}

/**
 * `spec.containers[name=api].env[name=DOTNET_gcServer].value`,
 * `metadata.annotations["pidguard.io/pids-limit"]`, `spec.containers[0].image`:
 * dot-separated keys, `[n]` list indices, `[field=value]` list items by a field
 * (Kubernetes lists are keyed by name), `["key"]` for keys holding dots.
 */
export function parseFieldPath(path: string): PathSegment[] {
  const bad = (problem: string) => new Error(`path ${JSON.stringify(path.slice(0, 80))}: ${problem}`);
  if (path.length === 0 || path.length > MAX_PATH_LENGTH) throw bad(`must have 1 to ${MAX_PATH_LENGTH} characters`);
  const segments: PathSegment[] = [];
  let at = 0;
  while (at < path.length) {
    if (segments.length >= MAX_PATH_SEGMENTS) throw bad(`more than ${MAX_PATH_SEGMENTS} steps`);
    const char = path[at];
    if (char === '[') {
      const close = path.indexOf(']', at);
      if (close < 0) throw bad(`"[" at ${at} is never closed`);
      const inside = path.slice(at + 1, close);
      if (inside.startsWith('"')) {
        // A quoted key may hold "]": find its closing quote instead.
        const end = path.indexOf('"]', at + 2);
        if (end < 0) throw bad(`the quoted key at ${at} is never closed with "]`);
        segments.push({ key: path.slice(at + 2, end) });
        at = end + 2;
      } else if (/^\d+$/.test(inside)) {
        segments.push({ index: Number(inside) });
        at = close + 1;
      } else {
        const equals = inside.indexOf('=');
        if (equals <= 0) throw bad(`[${inside}] is neither an index, a "quoted key" nor field=value`);
        segments.push({ field: inside.slice(0, equals), equals: inside.slice(equals + 1) });
        at = close + 1;
      }
      if (path[at] === '.') at += 1;
      continue;
    }
    let end = at;
    while (end < path.length && path[end] !== '.' && path[end] !== '[') end += 1;
    if (end === at) throw bad(`an empty key at ${at}`);
    segments.push({ key: path.slice(at, end) });
    at = path[end] === '.' ? end + 1 : end;
    if (path[end] === '.' && at === path.length) throw bad('ends with "."');
  }
  return segments;
}

/** The value at `segments` of `root`; undefined when any step is missing. */
export function valueAt(root: unknown, segments: readonly PathSegment[]): unknown {
  let current = root;
  for (const segment of segments) {
    if ('key' in segment) current = isRecord(current) && Object.hasOwn(current, segment.key) ? current[segment.key] : undefined;
    else if ('index' in segment) current = Array.isArray(current) ? current[segment.index] : undefined;
    else current = Array.isArray(current) ? current.find((item) => isRecord(item) && String(item[segment.field]) === segment.equals) : undefined;
    if (current === undefined) return undefined;
  }
  return current;
}

export interface Mismatch {
  /** decision, denyingRules, mutatingRules, warnings, a field path, or `object` when it is not there. */
  what: string;
  expected: unknown;
  actual: unknown;
}

/** What the engine did with one object, as the expectations see it. */
export interface Outcome {
  decision: Decision;
  denyingRules: string[];
  mutatingRules: string[];
  warnings: string[];
  stored: KubeObject;
}

export function compareOutcome(expectation: ObjectExpectation, outcome: Outcome): Mismatch[] {
  const mismatches: Mismatch[] = [];
  if (expectation.decision !== undefined && expectation.decision !== outcome.decision) {
    mismatches.push({ what: 'decision', expected: expectation.decision, actual: outcome.decision });
  }
  for (const key of ['denyingRules', 'mutatingRules'] as const) {
    const expected = expectation[key];
    if (expected !== undefined && !sameSet(expected, outcome[key])) mismatches.push({ what: key, expected: [...expected].sort(), actual: outcome[key] });
  }
  if (expectation.warnings !== undefined && !warningsMatch(expectation.warnings, outcome.warnings)) {
    mismatches.push({ what: 'warnings', expected: expectation.warnings, actual: outcome.warnings });
  }
  for (const field of expectation.fields) {
    const actual = valueAt(outcome.stored, field.segments);
    if (field.value === null ? actual !== undefined && actual !== null : !deepEqual(field.value, actual)) {
      mismatches.push({ what: field.path, expected: field.value === null ? ABSENT : field.value, actual: actual === undefined ? ABSENT : actual });
    }
  }
  if (expectation.matches !== undefined) subsetMismatches(expectation.matches, outcome.stored, '', mismatches);
  return mismatches;
}

/** How a missing value shows in a diff. */
export const ABSENT = Symbol('absent');

/** Each expected piece in a different warning, and no warning left over. */
function warningsMatch(expected: readonly string[], actual: readonly string[]): boolean {
  if (expected.length !== actual.length) return false;
  const left = [...actual];
  for (const piece of expected) {
    const found = left.findIndex((warning) => warning.includes(piece));
    if (found < 0) return false;
    left.splice(found, 1);
  }
  return true;
}

function sameSet(expected: readonly string[], actual: readonly string[]): boolean {
  const a = new Set(expected);
  const b = new Set(actual);
  return a.size === b.size && [...a].every((item) => b.has(item));
}

/**
 * Where `actual` differs from `expected` read as a subset: maps by key (extra
 * keys in actual are fine), lists of named items by name (Kubernetes' merge
 * key: containers, env), other lists item by item with the same length.
 */
function subsetMismatches(expected: unknown, actual: unknown, path: string, into: Mismatch[]): void {
  if (isRecord(expected)) {
    if (!isRecord(actual)) {
      into.push({ what: path || '(object)', expected, actual: actual === undefined ? ABSENT : actual });
      return;
    }
    for (const [key, value] of Object.entries(expected)) {
      const actualValue = Object.hasOwn(actual, key) ? actual[key] : undefined;
      subsetMismatches(value, actualValue, joinKey(path, key), into);
    }
    return;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) {
      into.push({ what: path, expected, actual: actual === undefined ? ABSENT : actual });
      return;
    }
    const named = expected.every((item) => isRecord(item) && typeof item.name === 'string');
    if (named) {
      for (const item of expected as Array<{ name: string }>) {
        const match = actual.find((candidate) => isRecord(candidate) && candidate.name === item.name);
        subsetMismatches(item, match, `${path}[name=${item.name}]`, into);
      }
      return;
    }
    if (expected.length !== actual.length) {
      into.push({ what: path, expected, actual });
      return;
    }
    expected.forEach((item, index) => subsetMismatches(item, actual[index], `${path}[${index}]`, into));
    return;
  }
  if (expected === null ? actual !== undefined && actual !== null : expected !== actual) {
    into.push({ what: path, expected: expected === null ? ABSENT : expected, actual: actual === undefined ? ABSENT : actual });
  }
}

function joinKey(path: string, key: string): string {
  const plain = key !== '' && !key.includes('.') && !key.includes('[');
  return plain ? (path ? `${path}.${key}` : key) : `${path}["${key}"]`;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((item, index) => deepEqual(item, b[index]));
  if (isRecord(a) && isRecord(b) && !Array.isArray(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && deepEqual(a[key], b[key]));
  }
  return false;
}

function depthOf(value: unknown, depth = 0): number {
  if (depth > MAX_DEPTH) return depth;
  const children = Array.isArray(value) ? value : isRecord(value) ? Object.values(value) : [];
  let deepest = depth;
  for (const child of children) deepest = Math.max(deepest, depthOf(child, depth + 1));
  return deepest;
}

function record(value: unknown, where: string, source: string): Record<string, unknown> {
  if (!isRecord(value) || Array.isArray(value)) throw new InputError(`${source}: ${where}: must be a mapping`);
  return value;
}

function onlyKeys(item: Record<string, unknown>, allowed: readonly string[], where: string, source: string): void {
  const unknown = Object.keys(item).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) throw new InputError(`${source}: ${where}: unknown key ${JSON.stringify(unknown[0])} (known: ${allowed.join(', ')})`);
}

function text(value: unknown, where: string, source: string): string {
  if (typeof value !== 'string' || value === '') throw new InputError(`${source}: ${where}: must be a non-empty string`);
  return value;
}

function texts(value: unknown, where: string, source: string): string[] {
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value)) throw new InputError(`${source}: ${where}: must be a list of strings`);
  return value.map((item, index) => text(item, `${where}[${index}]`, source));
}
