import { boundedMemo, boundedMemoPer } from '../../../src/policy/memo.js';

describe('boundedMemo', () => {
  const counting = () => {
    const calls: string[] = [];
    return { calls, compute: (key: string) => { calls.push(key); return key.length; } };
  };

  it('computes each key once while it fits', () => {
    const { calls, compute } = counting();
    const memo = boundedMemo(compute, 3, 10);
    expect(['a', 'bb', 'a', 'bb', 'a'].map(memo)).toEqual([1, 2, 1, 2, 1]);
    expect(calls).toEqual(['a', 'bb']);
  });

  it('remembers undefined results too', () => {
    let calls = 0;
    const memo = boundedMemo(() => { calls += 1; return undefined; }, 3, 10);
    memo('x');
    memo('x');
    expect(calls).toBe(1);
  });

  it('starts over when full, so distinct keys never hold more than capacity entries', () => {
    const { calls, compute } = counting();
    const memo = boundedMemo(compute, 2, 10);
    ['a', 'b', 'c', 'a', 'c'].forEach(memo);
    // 'c' arrived with the memo full: it started over holding only 'c'; 'a' is computed again, then 'c' is found.
    expect(calls).toEqual(['a', 'b', 'c', 'a']);
  });

  it('computes keys longer than maxKeyLength every time without keeping them', () => {
    const { calls, compute } = counting();
    const memo = boundedMemo(compute, 10, 3);
    expect(memo('abcd')).toBe(4);
    expect(memo('abcd')).toBe(4);
    expect(calls).toEqual(['abcd', 'abcd']);
  });
});

describe('boundedMemoPer', () => {
  it('remembers per owner object: the same key under another owner is computed for that owner', () => {
    const calls: string[] = [];
    const memo = boundedMemoPer((owner: { name: string }, key: string) => {
      calls.push(`${owner.name}:${key}`);
      return `${owner.name}/${key}`;
    });
    const [a, b] = [{ name: 'a' }, { name: 'b' }];
    expect([memo(a, 'x'), memo(a, 'x'), memo(b, 'x'), memo(b, 'x')]).toEqual(['a/x', 'a/x', 'b/x', 'b/x']);
    expect(calls).toEqual(['a:x', 'b:x']);
  });
});
