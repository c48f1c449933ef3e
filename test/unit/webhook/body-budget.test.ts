// The body budget's choice of whom to refuse: the largest body still arriving,
// never one already received, and the newcomer itself when it is the largest.

import { createBodyBudget, type BodyCharge } from '../../../src/webhook/body-budget.js';

function charge(name: string, evicted: string[]): BodyCharge {
  return { bytes: 0, evict: () => evicted.push(name) };
}

describe('createBodyBudget', () => {
  it('evicts the largest body still arriving to make room for a smaller one', () => {
    const evicted: string[] = [];
    const budget = createBodyBudget(100);
    const [big, medium, small] = [charge('big', evicted), charge('medium', evicted), charge('small', evicted)];
    expect(budget.add(big, 60)).toBe(true);
    expect(budget.add(medium, 30)).toBe(true);
    expect(budget.add(small, 20)).toBe(true);
    expect(evicted).toEqual(['big']);
    expect(budget.inUse()).toBe(50);
    expect(big.bytes).toBe(0);
  });

  it('refuses the newcomer when it would be the largest, and never evicts a body already received', () => {
    const evicted: string[] = [];
    const budget = createBodyBudget(100);
    const [received, arriving, newcomer] = [charge('received', evicted), charge('arriving', evicted), charge('newcomer', evicted)];
    budget.add(received, 70);
    budget.received(received);
    budget.add(arriving, 20);
    expect(budget.add(newcomer, 25)).toBe(false);
    expect(evicted).toEqual([]);
    expect(budget.inUse()).toBe(90);
    budget.release(received);
    budget.release(received);
    expect(budget.inUse()).toBe(20);
    expect(budget.add(newcomer, 25)).toBe(true);
  });

  it('holds more for a received review only when it fits, never evicting for it, and frees it all on release', () => {
    const evicted: string[] = [];
    const budget = createBodyBudget(100);
    const [waiting, arriving] = [charge('waiting', evicted), charge('arriving', evicted)];
    budget.add(waiting, 10);
    budget.received(waiting);
    budget.add(arriving, 40);
    expect(budget.hold(waiting, 60)).toBe(false); // 110 > 100: the arriving body is not evicted for it
    expect(evicted).toEqual([]);
    expect(budget.inUse()).toBe(50);
    expect(budget.hold(waiting, 50)).toBe(true);
    expect(budget.inUse()).toBe(100);
    budget.release(waiting);
    expect(budget.inUse()).toBe(40);
  });
});
