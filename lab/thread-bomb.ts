// A process that starts threads the way the incident's .NET services did:
// one after another, and when the kernel refuses one (EAGAIN), it waits a
// moment and tries again. For the live tests, the replay and the benchmark,
// never for the agent (which must not spawn anything). Python threads are
// real pthreads with 64 KiB stacks, so tens of thousands fit in little memory;
// node's worker_threads would cost an isolate (megabytes) each.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

const SOURCE = String.raw`
import sys, threading, time
threading.stack_size(65536)
target = int(sys.argv[1])      # 0 = without end
retry = sys.argv[2] == 'retry'
pause = 1.0 / float(sys.argv[3]) if float(sys.argv[3]) > 0 else 0.0
hold = threading.Event()
started = refused = 0
last = 0.0
def report(force=False):
    global last
    now = time.monotonic()
    if force or now - last >= 0.05:
        last = now
        sys.stdout.write('threads %d refused %d\n' % (started, refused))
        sys.stdout.flush()
sys.stdout.write('ready\n'); sys.stdout.flush()
if sys.stdin.readline().strip() != 'go':
    sys.exit(0)
while target == 0 or started < target:
    try:
        threading.Thread(target=hold.wait, daemon=True).start()
        started += 1
        if pause:
            time.sleep(pause)
    except RuntimeError:
        refused += 1
        report(True)
        if not retry:
            break
        time.sleep(0.01)
    report()
report(True)
sys.stdout.write('holding\n'); sys.stdout.flush()
sys.stdin.read()
`;

export interface ThreadBombOptions {
  /** Threads to start; 0 = without end. */
  target: number;
  /** Keep retrying after the kernel refuses a thread (like a thread pool injecting threads). */
  retry: boolean;
  /** Threads started per second at most; 0 = as fast as the kernel allows. */
  ratePerSecond?: number;
  /** Called with the pid before any thread starts: put the process in its cgroup here. */
  place?: (pid: number) => void | Promise<void>;
  python?: string;
}

export interface ThreadBombProgress {
  started: number;
  refused: number;
  holding: boolean;
}

export class ThreadBomb {
  readonly progress: ThreadBombProgress = { started: 0, refused: 0, holding: false };
  private readonly exited: Promise<void>;
  private readonly ready: Promise<void>;
  private waiters: Array<() => void> = [];

  private constructor(private readonly child: ChildProcess, python: string) {
    this.exited = new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    let markReady: () => void = () => undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      child.once('error', (error) => reject(new Error(`cannot start the thread bomb with ${python}: ${error.message}`)));
      void this.exited.then(() => reject(new Error(`the thread bomb exited before it was ready (code ${child.exitCode}, signal ${child.signalCode})`)));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /^threads (\d+) refused (\d+)$/.exec(line);
      if (line === 'ready') markReady();
      else if (line === 'holding') this.progress.holding = true;
      else if (match) {
        this.progress.started = Number(match[1]);
        this.progress.refused = Number(match[2]);
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  static async start(options: ThreadBombOptions): Promise<ThreadBomb> {
    const python = options.python ?? 'python3';
    const child = spawn(python, ['-c', SOURCE, String(options.target), options.retry ? 'retry' : 'once', String(options.ratePerSecond ?? 0)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const bomb = new ThreadBomb(child, python);
    try {
      await bomb.ready;
      await options.place?.(bomb.pid);
    } catch (error) {
      await bomb.kill();
      throw error;
    }
    child.stdin!.write('go\n');
    return bomb;
  }

  /** Resolves when `predicate` holds for the reported progress, or rejects after timeoutMs. */
  async waitFor(predicate: (progress: ThreadBombProgress) => boolean, timeoutMs: number, what: string): Promise<ThreadBombProgress> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.progress)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`thread bomb ${this.pid}: timed out after ${timeoutMs} ms waiting for ${what} (started ${this.progress.started}, refused ${this.progress.refused})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return { ...this.progress };
  }

  /** SIGKILL and wait until the process (and so all its threads) is gone. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}
