// Thread names to a histogram and a diagnosis (pure): the normaliser (digits
// folded, linear, bounded output: property-tested), the runtimes' known names,
// and which kind of leak a histogram shows.
import fc from 'fast-check';
import {
  classifyThreadName,
  diagnoseThreads,
  foldGroups,
  GROUPS_PER_PROCESS,
  groupThreadNames,
  normalizeThreadName,
  THREAD_NAME_LIMIT,
} from '../../../src/node/thread-names.js';

const names = (pairs: Array<[string, number]>) => new Map(pairs);

describe('normalizeThreadName', () => {
  test.each([
    ['worker-1', 'worker-*'],
    ['worker-9999', 'worker-*'],
    ['pool-734-thread-12', 'pool-*-thread-*'],
    ['GC Thread#0', 'GC Thread#*'],
    ['C2 CompilerThre', 'C* CompilerThre'],
    ['.NET TP Worker', '.NET TP Worker'],
    ['', ''],
    ['0', '*'],
  ])('%j -> %j', (name, group) => expect(normalizeThreadName(name)).toBe(group));

  test('property: no digits out, never longer than the cut input, idempotent, digit values do not matter', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.nat({ max: 1_000_000 }), (name, n) => {
        const group = normalizeThreadName(name);
        expect(group).not.toMatch(/\d/);
        expect(group.length).toBeLessThanOrEqual(Math.min(name.length, THREAD_NAME_LIMIT));
        expect(normalizeThreadName(group)).toBe(group);
        // Replacing every digit run by another number gives the same group (when the cut falls outside digits).
        const short = name.slice(0, 40);
        expect(normalizeThreadName(short.replace(/\d+/g, String(n)))).toBe(normalizeThreadName(short));
      }),
      { numRuns: 2000 },
    );
  });

  test('a hostile name (1 MiB of digits and text) gives at most THREAD_NAME_LIMIT characters', () => {
    const huge = '1a'.repeat(512 * 1024);
    const group = normalizeThreadName(huge);
    expect(group).toBe('*a'.repeat(THREAD_NAME_LIMIT / 2));
  });
});

describe('classifyThreadName', () => {
  test.each([
    ['.NET TP Worker', 'pool'],
    ['.NET ThreadPool', 'pool'],
    ['.NET Long Runni', 'dedicated'],
    ['.NET TP Wait', 'dedicated'],
    ['.NET BGC', 'runtime'],
    ['.NET Server GC', 'runtime'],
    ['.NET Finalizer', 'runtime'],
    ['.NET Timer', 'runtime'],
    ['.NET SynchManag', 'runtime'],
    ['.NET Tiered Com', 'runtime'],
    ['C* CompilerThre', 'runtime'],
    ['GC Thread#*', 'runtime'],
    ['pool-*-thread-*', 'pool'],
    ['ForkJoinPool-*-', 'pool'],
    ['ForkJoinPool.co', 'pool'],
    ['http-nio-*-exec', 'pool'],
    ['ThreadPoolExecu', 'pool'],
    ['Thread-* (worke', 'dedicated'],
    ['dotnet', 'unnamed'],
    ['worker-*', 'app'],
  ])('%j is %s', (group, kind) => expect(classifyThreadName(group, 'dotnet').kind).toBe(kind));
});

describe('groupThreadNames', () => {
  test('groups by folded name, biggest first, with shares, estimates and examples', () => {
    const groups = groupThreadNames(names([['.NET TP Worker', 90], ['worker-1', 3], ['worker-22', 2], ['dotnet', 1], ['.NET BGC', 4]]), 'dotnet', 1000);
    expect(groups.map((group) => [group.name, group.kind, group.count, group.estimate])).toEqual([
      ['.NET TP Worker', 'pool', 90, 900],
      ['worker-*', 'app', 5, 50],
      ['.NET BGC', 'runtime', 4, 40],
      ['dotnet', 'unnamed', 1, 10],
    ]);
    expect(groups[1]?.examples).toEqual(['worker-1', 'worker-22']);
    expect(groups.reduce((sum, group) => sum + group.share, 0)).toBeCloseTo(1, 9);
  });

  test('a process naming every thread differently: folded to GROUPS_PER_PROCESS groups and one "other", yet judged on all of them', () => {
    const many = names(Array.from({ length: 500 }, (_, index): [string, number] => [`t${String.fromCharCode(65 + (index % 26))}${String.fromCharCode(65 + Math.floor(index / 26))}`, 1]));
    const all = groupThreadNames(many, 'app', 500);
    expect(all).toHaveLength(500);
    // 500 application names, none holding 1%: together they are the application's dedicated threads.
    expect(diagnoseThreads(all, 'unknown', 1).kind).toBe('dedicated');
    const groups = foldGroups(all, GROUPS_PER_PROCESS, 500);
    expect(groups).toHaveLength(GROUPS_PER_PROCESS + 1);
    expect(groups.at(-1)).toMatchObject({ name: 'other', kind: 'other', count: 500 - GROUPS_PER_PROCESS });
    expect(groups.reduce((sum, group) => sum + group.count, 0)).toBe(500);
  });

  test('foldGroups keeps the first k and sums the rest (an existing "other" included)', () => {
    const groups = groupThreadNames(names([['a', 5], ['b', 4], ['c', 3], ['d', 2]]), 'x', 14);
    const folded = foldGroups(groups, 2, 14);
    expect(folded.map((group) => [group.name, group.count, group.estimate])).toEqual([['a', 5, 5], ['b', 4, 4], ['other', 5, 5]]);
    expect(foldGroups(folded, 1, 14).map((group) => [group.name, group.count])).toEqual([['a', 5], ['other', 9]]);
  });
});

describe('diagnoseThreads', () => {
  const diagnose = (pairs: Array<[string, number]>, process: string, runtime: Parameters<typeof diagnoseThreads>[1]) =>
    diagnoseThreads(groupThreadNames(names(pairs), process, 1000), runtime, 4242);

  test('.NET pool workers dominate: pool starvation, the cap bounds it; next steps cap the pool and find the blocking', () => {
    const diagnosis = diagnose([['.NET TP Worker', 950], ['.NET BGC', 8], ['dotnet', 1], ['.NET Long Runni', 41]], 'dotnet', '.NET');
    expect(diagnosis.kind).toBe('pool');
    expect(diagnosis.summary).toBe('pool starvation: 95% of the threads read are .NET thread-pool workers (.NET TP Worker); the thread-pool cap bounds it');
    expect(diagnosis.nextSteps.join('\n')).toContain('DOTNET_ThreadPool_ForceMaxWorkerThreads');
    expect(diagnosis.nextSteps.join('\n')).toContain('dotnet-stack report -p 4242');
  });

  test('.NET LongRunning tasks dominate: dedicated threads, only pids.max bounds them', () => {
    const diagnosis = diagnose([['.NET Long Runni', 800], ['.NET TP Worker', 150], ['dotnet', 1]], 'dotnet', '.NET');
    expect(diagnosis.kind).toBe('dedicated');
    expect(diagnosis.summary).toContain('dedicated threads: 84% of the threads read are .NET LongRunning tasks');
    expect(diagnosis.summary).toContain('only pids.max');
    expect(diagnosis.nextSteps.join('\n')).toMatch(/pidguard\.io\/pids-limit[\s\S]*LongRunning/);
  });

  test('the application\'s own names and never-named .NET threads add up to dedicated threads', () => {
    expect(diagnose([['orders-poller-1', 300], ['orders-poller-2', 300], ['.NET TP Worker', 400]], 'dotnet', '.NET')).toMatchObject({ kind: 'dedicated' });
    expect(diagnose([['dotnet', 700], ['.NET TP Worker', 300]], 'dotnet', '.NET')).toMatchObject({ kind: 'dedicated' });
  });

  test('Go: every thread carries the process name: dedicated, with the runtime\'s 10,000 stop', () => {
    const diagnosis = diagnose([['coredns', 900]], 'coredns', 'Go');
    expect(diagnosis.kind).toBe('dedicated');
    expect(diagnosis.nextSteps.join('\n')).toContain('10,000');
  });

  test('Python before 3.14 names no thread: unknown, with py-spy', () => {
    const diagnosis = diagnose([['python3', 900]], 'python3', 'Python');
    expect(diagnosis.kind).toBe('unknown');
    expect(diagnosis.nextSteps.join('\n')).toContain('py-spy dump --pid 4242');
  });

  test('JVM executors dominate: a pool, bounded by its own maximum if it has one; the examples show how many pools', () => {
    const diagnosis = diagnose([['pool-1-thread-1', 1], ['pool-734-thread-2', 600], ['GC Thread#0', 8], ['C2 CompilerThre', 2]], 'java', 'JVM');
    expect(diagnosis.kind).toBe('pool');
    expect(diagnosis.summary).toContain("the pool's own maximum bounds it, if it has one");
    expect(diagnosis.nextSteps.join('\n')).toContain('jstack 4242');
  });

  test('no kind holds half: unknown, naming the two biggest groups', () => {
    const diagnosis = diagnose([['.NET TP Worker', 40], ['.NET Long Runni', 35], ['.NET BGC', 25]], 'dotnet', '.NET');
    expect(diagnosis.kind).toBe('unknown');
    expect(diagnosis.summary).toContain('no kind of thread dominates (.NET TP Worker 40%, .NET Long Runni 35%)');
  });

  test('mostly runtime threads: not an application leak', () => {
    expect(diagnose([['.NET Server GC', 64], ['.NET BGC', 64], ['.NET TP Worker', 8]], 'dotnet', '.NET')).toMatchObject({ kind: 'runtime' });
  });

  test('nothing read: unknown', () => {
    expect(diagnoseThreads([], '.NET', 1)).toMatchObject({ kind: 'unknown', summary: 'unknown: no thread name could be read' });
  });
});
