import { addQuantities, compareQuantities, parseQuantity } from '../../../src/policy/quantity.js';

const q = (text: string | number) => {
  const parsed = parseQuantity(text);
  if (!parsed) throw new Error(`unparseable ${text}`);
  return parsed;
};

describe('parseQuantity', () => {
  it.each([
    ['1', '1000m'],
    ['0.5', '500m'],
    ['1Ki', '1024'],
    ['1Gi', '1073741824'],
    ['1e3', '1k'],
    ['1E3', '1000'],
    ['1.5Gi', '1536Mi'],
    ['100n', '0.0000001'],
    ['.5', '0.5'],
    [2, '2000m'],
    ['1M', '1000k'],
  ])('%s equals %s', (a, b) => {
    expect(compareQuantities(q(a), q(b))).toBe(0);
  });

  it.each(['', 'abc', '1.2.3', '1Gb', '--1', '1 Gi', 'Mi', '1e'])('rejects %j', (text) => {
    expect(parseQuantity(text)).toBeUndefined();
  });

  it('refuses quantities longer than 64 characters (the API server sends canonical, short ones), however long', () => {
    expect(parseQuantity('9'.repeat(64))).toBeDefined();
    expect(parseQuantity('9'.repeat(65))).toBeUndefined();
    expect(parseQuantity(`0.${'1'.repeat(1 << 20)}`)).toBeUndefined();
    expect(parseQuantity(`${'1'.repeat(1 << 20)}x`)).toBeUndefined();
  });

  it('orders quantities exactly, without float rounding', () => {
    expect(compareQuantities(q('1000000001n'), q('1'))).toBe(1);
    expect(compareQuantities(q('999m'), q('1'))).toBe(-1);
    expect(compareQuantities(q('-1'), q('0'))).toBe(-1);
  });

  it('adds', () => {
    expect(compareQuantities(addQuantities(q('100m'), q('0.9')), q('1'))).toBe(0);
  });
});
