// Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource), exact:
// a quantity is kept as a fraction of BigInts so "1", "1000m" and "1e3m" compare
// equal and no float rounding can turn a limit into something below its request.

import { boundedMemo } from './memo.js';

export interface Quantity {
  readonly numerator: bigint;
  readonly denominator: bigint;
}

const DECIMAL_SUFFIX: Record<string, number> = {
  n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18,
};
const BINARY_SUFFIX: Record<string, number> = {
  Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60,
};

// Sign, digits with an optional fraction, then a suffix or a decimal exponent.
// Each part is a run of one character class followed by a different one, so
// the match is linear; the length cap bounds the BigInt arithmetic below.
const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/;

/**
 * Longest quantity accepted. The API server stores quantities in canonical
 * form (a few characters); only files read by `evaluate` could hold more, and
 * a 1 MiB string of digits would make the exact arithmetic quadratic.
 */
export const MAX_QUANTITY_LENGTH = 64;

/**
 * Parses a quantity; returns undefined for anything the API server would reject, and for longer than
 * MAX_QUANTITY_LENGTH. Quantities are immutable, so one parse of each string is shared.
 */
export function parseQuantity(input: string | number): Quantity | undefined {
  return typeof input === 'number' ? parse(String(input)) : parseMemo(input);
}

const parseMemo = boundedMemo((input: string) => parse(input.trim()), 1024, MAX_QUANTITY_LENGTH + 16);

function parse(text: string): Quantity | undefined {
  if (text.length > MAX_QUANTITY_LENGTH) return undefined;
  const match = QUANTITY.exec(text);
  if (!match) return undefined;
  const [, sign = '', mantissa = '', exponent, suffix = ''] = match;
  const [whole = '', fraction = ''] = mantissa.split('.');
  let numerator = BigInt((whole || '0') + fraction);
  let denominator = 10n ** BigInt(fraction.length);
  let power10 = exponent ? Number(exponent.slice(1)) : (DECIMAL_SUFFIX[suffix] ?? 0);
  const power2 = BINARY_SUFFIX[suffix] ?? 0;
  if (Math.abs(power10) > 64) return undefined;
  if (power10 >= 0) numerator *= 10n ** BigInt(power10);
  else denominator *= 10n ** BigInt(-power10);
  numerator *= 2n ** BigInt(power2);
  if (sign === '-') numerator = -numerator;
  return { numerator, denominator };
}

/** -1, 0 or 1, like resource.Quantity.Cmp. */
export function compareQuantities(a: Quantity, b: Quantity): number {
  const left = a.numerator * b.denominator;
  const right = b.numerator * a.denominator;
  return left < right ? -1 : left > right ? 1 : 0;
}

export function addQuantities(a: Quantity, b: Quantity): Quantity {
  return {
    numerator: a.numerator * b.denominator + b.numerator * a.denominator,
    denominator: a.denominator * b.denominator,
  };
}

export function isPositive(q: Quantity): boolean {
  return q.numerator > 0n;
}
