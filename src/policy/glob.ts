// Glob patterns for .NET detection, matched in time linear in the subject:
// no regular expression ever sees request data (a configured regex could be
// made to backtrack for seconds on one image string).
//
// Image patterns (dotnet.imagePatterns) match the repository of an image
// reference (image-reference.ts), component by component:
//   *    any run of characters within one component (never '/')
//   **   a whole component only: zero or more components
//   anything else matches itself
// A pattern whose first component names a registry (contains '.' or ':', or is
// 'localhost') matches `domain/path`, the domain being `docker.io` for images
// that name none; any other pattern matches the repository path alone, so the
// registry host never makes a match: `**/*dotnet*` matches `corp/orders-dotnet:1`
// but not `dotnetreg:5000/nginx:1`. Tags and digests are never matched.
//
// Command patterns (dotnet.commandPatterns) match the words of each command
// and args entry (split at spaces and shell punctuation, so `sh -c "exec
// dotnet App.dll"` counts): a pattern without '/' matches a word's basename
// (`dotnet` matches `/usr/share/dotnet/dotnet`), one with '/' the whole word;
// `*` is any run of characters.

import { isDomain, parseImageReference } from './image-reference.js';
import { boundedMemoPer } from './memo.js';

/** Longest pattern accepted: matching costs (subject length x pattern length). */
export const MAX_PATTERN_LENGTH = 256;
const DEFAULT_DOMAIN = 'docker.io';

/** A component pattern: literal pieces between `*`s, e.g. `*dotnet*` -> ['', 'dotnet', '']. */
type ComponentPattern = readonly string[];
/** A path pattern: component patterns, or ANY_COMPONENTS for `**`. */
type PathPattern = ReadonlyArray<ComponentPattern | typeof ANY_COMPONENTS>;
const ANY_COMPONENTS = Symbol('**');

export interface ImagePattern {
  readonly source: string;
  /** True when the pattern names a registry domain (it then matches `domain/path`). */
  readonly withDomain: boolean;
  readonly components: PathPattern;
}

export interface CommandPattern {
  readonly source: string;
  /** True when the pattern has a '/' and matches the whole word rather than its basename. */
  readonly wholeWord: boolean;
  readonly pieces: ComponentPattern;
}

export class PatternError extends Error {}

const IMAGE_PATTERN_CHARACTERS = /^[A-Za-z0-9._\-:/*]*$/;
const COMMAND_PATTERN_CHARACTERS = /^[A-Za-z0-9._\-/*+@=,%~]*$/;

/** Compiles an image pattern; throws a PatternError saying what is wrong. */
export function compileImagePattern(source: string): ImagePattern {
  checkLength(source);
  if (!IMAGE_PATTERN_CHARACTERS.test(source)) {
    throw new PatternError(`${JSON.stringify(source)} is not a glob: only letters, digits, '.', '_', '-', ':', '/' and '*' are allowed (regular expressions are not supported: write e.g. 'mcr.microsoft.com/dotnet/**' or '**/*dotnet*')`);
  }
  const parts = source.split('/');
  const withDomain = parts.length > 1 && isDomain(parts[0]!);
  const components = parts.map((part, index) => {
    if (part === '') throw new PatternError(`${JSON.stringify(source)} has an empty path component`);
    if (part === '**') return ANY_COMPONENTS;
    if (part.includes('**')) throw new PatternError(`${JSON.stringify(source)}: '**' must be a whole path component`);
    if (part.includes(':') && !(withDomain && index === 0)) throw new PatternError(`${JSON.stringify(source)}: ':' is allowed only in a registry domain (tags are not matched)`);
    return part.split('*');
  });
  if (parts.every((part) => part.split('*').join('') === '')) throw new PatternError(`${JSON.stringify(source)} would match every image`);
  return { source, withDomain, components };
}

/** Compiles a command pattern; throws a PatternError saying what is wrong. */
export function compileCommandPattern(source: string): CommandPattern {
  checkLength(source);
  if (!COMMAND_PATTERN_CHARACTERS.test(source)) {
    throw new PatternError(`${JSON.stringify(source)} is not a glob: only letters, digits, '*' and . _ - / + @ = , % ~ are allowed (regular expressions are not supported: write e.g. 'dotnet' or '*.dll')`);
  }
  if (source === '' || source.split('*').join('') === '') throw new PatternError(`${JSON.stringify(source)} would match every word`);
  return { source, wholeWord: source.includes('/'), pieces: source.split('*') };
}

const rememberedImageMatch = boundedMemoPer(anyImagePatternMatches);
const rememberedEntryMatch = boundedMemoPer(entryMatches);

/** Whether any pattern matches the image's repository (remembered per pattern list: a cluster runs few distinct images). */
export function imageMatches(patterns: readonly ImagePattern[], image: string): boolean {
  return patterns.length > 0 && rememberedImageMatch(patterns, image);
}

function anyImagePatternMatches(patterns: readonly ImagePattern[], image: string): boolean {
  const reference = parseImageReference(image);
  const domain = reference.domain ?? DEFAULT_DOMAIN;
  for (const pattern of patterns) {
    if (pathMatches(pattern.components, reference.path, pattern.withDomain ? domain : undefined)) return true;
  }
  return false;
}

/** Whether any pattern matches a word of any entry (entries that are not strings are not looked at; each string is remembered per pattern list). */
export function commandMatches(patterns: readonly CommandPattern[], entries: readonly unknown[]): boolean {
  if (patterns.length === 0) return false;
  for (const entry of entries) if (typeof entry === 'string' && rememberedEntryMatch(patterns, entry)) return true;
  return false;
}

function entryMatches(patterns: readonly CommandPattern[], entry: string): boolean {
  let start = -1;
  let lastSlash = -1;
  for (let index = 0; index <= entry.length; index += 1) {
    const code = index < entry.length ? entry.charCodeAt(index) : 0;
    if (index < entry.length && !isWordBreak(code)) {
      if (start === -1) start = index;
      if (code === 47) lastSlash = index; // '/'
      continue;
    }
    if (start !== -1 && wordMatches(patterns, entry, start, index, lastSlash >= start ? lastSlash + 1 : start)) return true;
    start = -1;
  }
  return false;
}

function wordMatches(patterns: readonly CommandPattern[], entry: string, start: number, end: number, basename: number): boolean {
  return patterns.some((pattern) => componentMatches(pattern.pieces, entry, pattern.wholeWord ? start : basename, end));
}

/** Whitespace and shell punctuation: ; & | ( ) < > ` ' " */
function isWordBreak(code: number): boolean {
  return code <= 32 || code === 59 || code === 38 || code === 124 || code === 40 || code === 41 || code === 60 || code === 62 || code === 96 || code === 39 || code === 34;
}

/**
 * Component-level wildcard matching: greedy, remembering only the last `**`
 * (the classic two-pointer algorithm), over the components of `path` (after
 * `domain`, when given) found by offset, never split into a list. Each pair
 * (pattern token, subject component) is compared at most once per backtrack of
 * that `**`, which bounds the work by (path length x pattern tokens).
 */
function pathMatches(pattern: PathPattern, path: string, domain: string | undefined): boolean {
  // A position is the offset of a component's start in `path`; DOMAIN is the domain itself.
  const DOMAIN = -1;
  const done = path.length + 1;
  const endOf = (at: number) => {
    const slash = path.indexOf('/', at);
    return slash === -1 ? path.length : slash;
  };
  const next = (at: number) => (at === DOMAIN ? 0 : endOf(at) + 1);
  const matchesAt = (token: ComponentPattern, at: number) =>
    at === DOMAIN ? componentMatches(token, domain!, 0, domain!.length) : componentMatches(token, path, at, endOf(at));
  let p = 0;
  let s = domain === undefined ? 0 : DOMAIN;
  let starP = -1;
  let starS = 0;
  while (s !== done) {
    const token = pattern[p];
    if (token === ANY_COMPONENTS) {
      starP = p;
      starS = s;
      p += 1;
    } else if (token !== undefined && matchesAt(token, s)) {
      p += 1;
      s = next(s);
    } else if (starP !== -1) {
      p = starP + 1;
      starS = next(starS);
      s = starS;
    } else {
      return false;
    }
  }
  while (pattern[p] === ANY_COMPONENTS) p += 1;
  return p === pattern.length;
}

/**
 * `*` globbing of text[start, end): the first piece is a prefix, the last a
 * suffix, and each piece between is found leftmost after the previous one
 * (leftmost is always right for `*`-only globs). Linear in the span for a
 * pattern of bounded length.
 */
function componentMatches(pieces: ComponentPattern, text: string, start: number, end: number): boolean {
  const first = pieces[0]!;
  if (pieces.length === 1) return end - start === first.length && text.startsWith(first, start);
  const last = pieces[pieces.length - 1]!;
  if (end - start < first.length + last.length || !text.startsWith(first, start) || !text.endsWith(last, end)) return false;
  if (pieces.length === 2) return true;
  let needed = 0;
  for (const piece of pieces) needed += piece.length;
  if (end - start < needed) return false;
  // Middle pieces are searched in the span alone: a search of the whole text could run past it every time.
  const subject = text.slice(start, end);
  let from = first.length;
  const stop = subject.length - last.length;
  for (let index = 1; index < pieces.length - 1; index += 1) {
    const piece = pieces[index]!;
    const found = subject.indexOf(piece, from);
    if (found === -1 || found + piece.length > stop) return false;
    from = found + piece.length;
  }
  return true;
}

function checkLength(source: string): void {
  if (source.length > MAX_PATTERN_LENGTH) throw new PatternError(`is longer than ${MAX_PATTERN_LENGTH} characters`);
}
