// Which kind of thread leak a process has, from its threads' Linux names
// (/proc/<pid>/task/<tid>/comm, 15 bytes at most). The fix differs: a
// thread-pool leak is bounded by the pool's cap, dedicated threads (`new
// Thread`, LongRunning tasks) only by pids.max (FACTS.md). Pure: procfs.ts
// reads the names, this module groups and judges them.

import type { Runtime } from './runtime.js';

/**
 * pool: a runtime's thread pool, bounded by its cap. dedicated: threads
 * started one by one outside any pool. app: named by the application (a
 * `new Thread` with a Name, or a pool of its own: the names cannot tell).
 * runtime: the runtime's own fixed set (GC, JIT, timers). unnamed: named like
 * the process, i.e. never named (Linux gives a new thread its creator's name).
 */
export type ThreadKind = 'pool' | 'dedicated' | 'app' | 'runtime' | 'unnamed';

export interface ThreadGroup {
  /** The name with every run of digits as `*` (`worker-*`, `pool-*-thread-*`); `other` for the folded rest. */
  name: string;
  kind: ThreadKind | 'other';
  /** What the group is, when the name is a known one (".NET thread-pool workers"). */
  label?: string;
  /** Threads of the group among the names read. */
  count: number;
  /** count / names read. */
  share: number;
  /** Threads of the whole process this stands for: share x its thread count. */
  estimate: number;
  /** Up to three names as read (`pool-1-thread-1`, `pool-734-thread-2`), for groups that fold several. */
  examples: string[];
}

export type DiagnosisKind = 'pool' | 'dedicated' | 'runtime' | 'unknown';

export interface ThreadLeakDiagnosis {
  kind: DiagnosisKind;
  /** "pool starvation: 96% of the threads read are .NET thread-pool workers (.NET TP Worker); the thread-pool cap bounds them" */
  summary: string;
  nextSteps: string[];
}

/** Longest name kept: comm is 15 bytes; anything longer comes from a hostile or broken tree. */
export const THREAD_NAME_LIMIT = 64;
/** Groups shown per process (the rest folded into `other`): the names are the process's to choose. */
export const GROUPS_PER_PROCESS = 12;
/** A kind that holds at least this share of the threads read is the diagnosis. */
const DOMINANT_SHARE = 0.5;
const EXAMPLES = 3;

/**
 * `name` cut to THREAD_NAME_LIMIT characters with every run of digits replaced
 * by one `*`: `worker-1` ... `worker-9999` are one group. One pass, output
 * never longer than the cut input.
 */
export function normalizeThreadName(name: string): string {
  const end = Math.min(name.length, THREAD_NAME_LIMIT);
  let out = '';
  let inDigits = false;
  for (let index = 0; index < end; index += 1) {
    const code = name.charCodeAt(index);
    if (code >= 48 && code <= 57) {
      if (!inDigits) out += '*';
      inDigits = true;
    } else {
      out += name[index];
      inDigits = false;
    }
  }
  return out;
}

interface KnownName {
  kind: ThreadKind;
  label: string;
}

// Names as the kernel keeps them (15 bytes), after normalizeThreadName. .NET:
// dotnet/runtime sets them with SetThreadDescription / Thread.Name
// (PortableThreadPool, ThreadPoolTaskScheduler, TimerQueue, the GC, the PAL).
const EXACT: ReadonlyMap<string, KnownName> = new Map<string, KnownName>([
  ['.NET TP Worker', { kind: 'pool', label: '.NET thread-pool workers' }],
  // .NET 5 and older: ".NET ThreadPool Worker", cut to 15 bytes.
  ['.NET ThreadPool', { kind: 'pool', label: '.NET thread-pool workers' }],
  ['.NET Long Runni', { kind: 'dedicated', label: '.NET LongRunning tasks (a thread each)' }],
  // One per 63 registered waits (RegisterWaitForSingleObject): outside the pool's cap.
  ['.NET TP Wait', { kind: 'dedicated', label: '.NET thread-pool wait threads' }],
  ['.NET BGC', { kind: 'runtime', label: '.NET background GC' }],
  ['.NET Background', { kind: 'runtime', label: '.NET background GC' }],
  ['.NET Server GC', { kind: 'runtime', label: '.NET server GC (one per heap)' }],
  ['.NET Finalizer', { kind: 'runtime', label: '.NET finalizer' }],
  ['.NET Timer', { kind: 'runtime', label: '.NET timers' }],
  // JVM (HotSpot names its own threads; Java threads get their Thread name).
  ['C* CompilerThre', { kind: 'runtime', label: 'JVM JIT compiler' }],
  ['GC Thread#*', { kind: 'runtime', label: 'JVM GC workers' }],
  ['G* Conc#*', { kind: 'runtime', label: 'JVM G1 concurrent GC' }],
  ['G* Refine#*', { kind: 'runtime', label: 'JVM G1 refinement' }],
  ['G* Main Marker', { kind: 'runtime', label: 'JVM G1 marking' }],
  ['G* Service', { kind: 'runtime', label: 'JVM G1 service' }],
  ['VM Thread', { kind: 'runtime', label: 'JVM VM thread' }],
  ['VM Periodic Tas', { kind: 'runtime', label: 'JVM periodic tasks' }],
  ['Reference Handl', { kind: 'runtime', label: 'JVM reference handler' }],
  ['Finalizer', { kind: 'runtime', label: 'JVM finalizer' }],
  ['Signal Dispatch', { kind: 'runtime', label: 'JVM signal dispatcher' }],
  ['Service Thread', { kind: 'runtime', label: 'JVM service thread' }],
  ['Common-Cleaner', { kind: 'runtime', label: 'JVM cleaner' }],
  ['Notification Th', { kind: 'runtime', label: 'JVM notifications' }],
  ['Attach Listener', { kind: 'runtime', label: 'JVM attach listener' }],
  ['Sweeper thread', { kind: 'runtime', label: 'JVM code sweeper' }],
  ['Monitor Deflati', { kind: 'runtime', label: 'JVM monitor deflation' }],
  // Python 3.14+ names OS threads after Thread.name ("ThreadPoolExecutor-0_0" cut to 15 bytes).
  ['ThreadPoolExecu', { kind: 'pool', label: 'Python ThreadPoolExecutor workers' }],
]);

// Prefixes, tried in order on the normalised name.
const PREFIXES: ReadonlyArray<readonly [string, KnownName]> = [
  ['pool-*-thread-', { kind: 'pool', label: 'JVM executor threads (Executors.defaultThreadFactory)' }],
  ['ForkJoinPool', { kind: 'pool', label: 'JVM ForkJoinPool workers' }],
  ['http-nio-', { kind: 'pool', label: 'Tomcat connector workers' }],
  ['asyncio_', { kind: 'pool', label: 'Python asyncio default executor' }],
  ['Thread-* (', { kind: 'dedicated', label: 'Python threading.Thread' }],
  // Every other runtime thread (".NET SynchManag", ".NET Tiered Com", ".NET Sockets", ".NET EventPipe", ...).
  ['.NET ', { kind: 'runtime', label: '.NET runtime thread' }],
];

/** What a normalised name says, given the process's own normalised name (threads never named carry it). */
export function classifyThreadName(group: string, processGroup: string): { kind: ThreadKind; label?: string } {
  const known = EXACT.get(group) ?? PREFIXES.find(([prefix]) => group.startsWith(prefix))?.[1];
  if (known) return { kind: known.kind, label: known.label };
  if (group === processGroup) return { kind: 'unnamed' };
  return { kind: 'app' };
}

/**
 * Groups raw names (name -> threads read) into a histogram, biggest first
 * (as many groups as names read at most: fold it with foldGroups to show it).
 * `processName` is the process's comm, `threads` its thread count (for the estimates).
 */
export function groupThreadNames(names: ReadonlyMap<string, number>, processName: string, threads: number): ThreadGroup[] {
  const processGroup = normalizeThreadName(processName);
  const byGroup = new Map<string, { count: number; examples: string[] }>();
  let read = 0;
  for (const [name, count] of names) {
    read += count;
    const key = normalizeThreadName(name);
    const group = byGroup.get(key) ?? { count: 0, examples: [] };
    group.count += count;
    if (group.examples.length < EXAMPLES) group.examples.push(name.slice(0, THREAD_NAME_LIMIT));
    byGroup.set(key, group);
  }
  const groups = [...byGroup].map(([name, { count, examples }]): ThreadGroup => {
    const { kind, label } = classifyThreadName(name, processGroup);
    const share = count / read;
    return { name, kind, ...(label ? { label } : {}), count, share, estimate: Math.round(share * threads), examples: examples.sort() };
  });
  return groups.sort((a, b) => b.count - a.count || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The first `keep` groups and one `other` for the rest (as many groups as there were when they fit). */
export function foldGroups(groups: readonly ThreadGroup[], keep: number, threads: number): ThreadGroup[] {
  if (groups.length <= keep) return [...groups];
  const rest = groups.slice(keep);
  const count = rest.reduce((sum, group) => sum + group.count, 0);
  const share = rest.reduce((sum, group) => sum + group.share, 0);
  return [...groups.slice(0, keep), { name: 'other', kind: 'other', count, share, estimate: Math.round(share * threads), examples: [] }];
}

const percent = (share: number) => `${Math.round(share * 100)}%`;

/** Unnamed threads: in .NET and Go they are threads started one by one; in Python before 3.14 every thread is unnamed. */
function unnamedMeans(runtime: Runtime): DiagnosisKind | 'unclassified' {
  return runtime === '.NET' || runtime === 'Go' || runtime === 'JVM' ? 'dedicated' : 'unclassified';
}

function classOf(group: ThreadGroup, runtime: Runtime): DiagnosisKind | 'unclassified' {
  switch (group.kind) {
    case 'pool': return 'pool';
    case 'dedicated':
    case 'app': return 'dedicated';
    case 'runtime': return 'runtime';
    case 'unnamed': return unnamedMeans(runtime);
    default: return 'unclassified';
  }
}

const KIND_WORDS: Record<DiagnosisKind | 'unclassified', string> = {
  pool: 'thread-pool threads',
  dedicated: 'threads started one by one (dedicated, named by the application, or never named)',
  runtime: 'the runtime\'s own threads',
  unknown: 'threads of unknown kind',
  unclassified: 'threads whose names say nothing of their kind',
};

function describe(group: ThreadGroup): string {
  return group.label ? `${group.label} (${group.name})` : group.kind === 'unnamed' ? `threads never named (named like the process, ${group.name})` : `threads the application names ${group.name}`;
}

/**
 * The kind holding at least half the threads read decides: pool starvation
 * (the pool's cap bounds it), dedicated threads (only pids.max bounds it),
 * the runtime's own threads, or unknown (no kind dominates, or nothing read).
 */
export function diagnoseThreads(groups: readonly ThreadGroup[], runtime: Runtime, pid: number): ThreadLeakDiagnosis {
  const read = groups.reduce((sum, group) => sum + group.count, 0);
  if (read === 0) return { kind: 'unknown', summary: 'unknown: no thread name could be read', nextSteps: [] };
  const shares = new Map<DiagnosisKind | 'unclassified', number>();
  for (const group of groups) {
    const kind = classOf(group, runtime);
    shares.set(kind, (shares.get(kind) ?? 0) + group.count / read);
  }
  const [kind, share] = [...shares].sort((a, b) => b[1] - a[1])[0] as [DiagnosisKind | 'unclassified', number];
  const biggest = groups.find((group) => classOf(group, runtime) === kind) as ThreadGroup;
  // One group, or several of a kind (many application names): then the kind, and its biggest group.
  const what = share - biggest.share < 0.005
    ? `${percent(share)} of the threads read are ${describe(biggest)}`
    : `${percent(share)} of the threads read are ${KIND_WORDS[kind]} (biggest: ${describe(biggest)}, ${percent(biggest.share)})`;
  if (share < DOMINANT_SHARE || kind === 'unclassified') {
    const top = groups.slice(0, 2).map((group) => `${group.name} ${percent(group.share)}`).join(', ');
    return {
      kind: 'unknown',
      summary: `unknown: ${share < DOMINANT_SHARE ? `no kind of thread dominates (${top})` : what}; names cannot tell pool from dedicated threads here`,
      nextSteps: [stackStep(runtime, pid)],
    };
  }
  if (kind === 'pool') {
    const bound = biggest.label?.startsWith('.NET') ? 'the thread-pool cap bounds it' : 'the pool\'s own maximum bounds it, if it has one';
    return { kind, summary: `pool starvation: ${what}; ${bound}`, nextSteps: poolSteps(biggest, runtime, pid) };
  }
  if (kind === 'dedicated') {
    return { kind, summary: `dedicated threads: ${what}; no pool cap bounds them, only pids.max`, nextSteps: dedicatedSteps(biggest, runtime, pid) };
  }
  return {
    kind: 'runtime',
    summary: `runtime threads: ${what}; their number follows the CPUs and settings, not a leak in the application`,
    nextSteps: runtime === '.NET' ? ['Server GC starts threads per heap: DOTNET_GCHeapCount (hexadecimal) or DOTNET_gcServer=0 lowers them.'] : [stackStep(runtime, pid)],
  };
}

function stackStep(runtime: Runtime, pid: number): string {
  switch (runtime) {
    case '.NET': return `See what the threads run: \`dotnet-stack report -p ${pid}\` (or \`dotnet-dump collect -p ${pid}\`, then \`clrstack -all\`).`;
    case 'JVM': return `See what the threads run: \`jstack ${pid}\` (or \`jcmd ${pid} Thread.print\`).`;
    case 'Python': return `See what the threads run: \`py-spy dump --pid ${pid}\`.`;
    case 'Go': return 'See what the threads run: the program\'s /debug/pprof/goroutine?debug=2 and /debug/pprof/threadcreate, if it serves net/http/pprof.';
    default: return `See what the threads run: \`gdb -p ${pid} -batch -ex 'thread apply all bt'\` (it stops the process while it runs).`;
  }
}

function poolSteps(group: ThreadGroup, runtime: Runtime, pid: number): string[] {
  if (group.label?.startsWith('.NET')) {
    return [
      'Cap the pool: DOTNET_ThreadPool_ForceMaxWorkerThreads in the pod\'s env (hexadecimal: 0x100 = 256), as pidguard\'s .NET rule injects it; the pool then queues work instead of adding threads.',
      `Find what blocks the workers (sync-over-async: .Result, .Wait(), blocking I/O): \`dotnet-counters monitor -p ${pid} System.Runtime\` (thread-pool queue length) and \`dotnet-stack report -p ${pid}\`.`,
    ];
  }
  return [
    `The pool's own maximum bounds it (an executor's maximumPoolSize, a ThreadPoolExecutor's max_workers); a cached pool, or a new pool per request that is never shut down, has none: the examples (${group.examples.join(', ')}) show whether many pools exist.`,
    stackStep(runtime, pid),
  ];
}

function dedicatedSteps(group: ThreadGroup, runtime: Runtime, pid: number): string[] {
  const steps = ['Bound the pod with the annotation pidguard.io/pids-limit: the agent writes it into pids.max, the only limit these threads meet; the thread-pool cap does not help.'];
  if (group.name === '.NET Long Runni') steps.push('Each TaskCreationOptions.LongRunning task takes a thread of its own: use it only for work that blocks for the life of the process, not for work that awaits.');
  else if (group.kind === 'app') steps.push(`The application names these threads ${group.name}: find the code that starts them.`);
  else if (runtime === 'Go') steps.push('Go holds one OS thread per goroutine blocked in a system call or cgo call (and per LockOSThread); it stops the program at 10,000 threads (debug.SetMaxThreads): pids.max bounds it earlier.');
  steps.push(stackStep(runtime, pid));
  return steps;
}
