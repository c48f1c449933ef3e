// CEL text for the admission policies: string literals, and the config's globs
// translated into RE2 regular expressions. RE2 (CEL's `matches`) runs in time
// linear in the subject, so a translated glob keeps glob.ts's guarantee; each
// translation below is exact, glob.ts's semantics restated as a regex.

import type { CommandPattern, ImagePattern } from '../glob.js';

/** A CEL string literal (JSON's escapes are CEL's: \", \\, \n, \uXXXX). */
export function celString(text: string): string {
  return JSON.stringify(text);
}

/** A CEL list of string literals. */
export function celStrings(texts: readonly string[]): string {
  return `[${texts.map(celString).join(', ')}]`;
}

/** Every character but letters and digits escaped (RE2 accepts `\` before any ASCII punctuation). */
function literal(text: string): string {
  return text.replace(/[^A-Za-z0-9]/g, (c) => `\\${c}`);
}

/**
 * An image pattern as a regex over '/' + the subject glob.ts matches (the
 * repository path, or `domain/path`): each component is '/' + its glob, `**`
 * is any number of whole components, `*` any run within one.
 */
export function imagePatternRegex(pattern: ImagePattern): string {
  return pattern.source
    .split('/')
    .map((part) => (part === '**' ? '(?:/[^/]*)*' : `/${part.split('*').map(literal).join('[^/]*')}`))
    .join('');
}

/** glob.ts's word breaks: whitespace and control characters, ; & | ( ) < > ` ' " */
const BREAK = '\\x00-\\x20;&|()<>\\x60\\x27\\x22';

/**
 * The command patterns as one regex over a command or args entry that matches
 * when a whole word (a maximal run of non-break characters) matches one of
 * them: a pattern without '/' matches the word's basename (after its last
 * '/'), one with '/' the whole word; `*` is any run of characters.
 */
export function commandPatternsRegex(patterns: readonly CommandPattern[]): string {
  const words = patterns.map((pattern) =>
    pattern.wholeWord
      ? pattern.pieces.map(literal).join(`[^${BREAK}]*`)
      : `(?:[^${BREAK}]*/)?${pattern.pieces.map(literal).join(`[^${BREAK}/]*`)}`,
  );
  return `(?:^|[${BREAK}])(?:${words.join('|')})(?:$|[${BREAK}])`;
}
