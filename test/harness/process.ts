/**
 * A child server process owned by a test: started in its own process group with its output appended to a log
 * file, stopped with SIGTERM (SIGKILL after a grace period) or killed, and never outliving the test process — an
 * exit hook kills it when the test process ends normally, and a watchdog shell kills it when the test process
 * dies without running hooks (a SIGKILLed Jest worker).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { fileTail } from './util';

export interface ProcessSpec {
  /** Name used in error messages, e.g. `etcd` or `kafka`. */
  name: string;
  command: string;
  args: string[];
  /** stdout and stderr are appended here. */
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const DEFAULT_STOP_GRACE_MS = 15_000;
/** How often the watchdog checks that the test process is still alive. */
const WATCHDOG_INTERVAL_S = 1;

const live = new Set<ManagedProcess>();
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', () => {
    for (const p of live) p.killNow();
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      for (const p of live) p.killNow();
      process.kill(process.pid, signal);
    });
  }
}

export class ManagedProcess {
  private child: ChildProcess | undefined;
  private exit: Promise<ExitInfo> | undefined;
  private lastExit: ExitInfo | undefined;

  constructor(readonly spec: ProcessSpec) {}

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    return this.child !== undefined && this.lastExit === undefined;
  }

  /** How the last run ended, while the process is not running. */
  get exitInfo(): ExitInfo | undefined {
    return this.lastExit;
  }

  start(): void {
    if (this.running) throw new Error(`${this.spec.name} is already running (pid ${this.child?.pid})`);
    hookExit();
    const out = fs.openSync(this.spec.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(this.spec.command, this.spec.args, {
        cwd: this.spec.cwd,
        env: this.spec.env ?? process.env,
        stdio: ['ignore', out, out],
        detached: true,
      });
    } finally {
      fs.closeSync(out);
    }
    this.child = child;
    this.lastExit = undefined;
    this.exit = new Promise<ExitInfo>((resolve) => {
      const done = (info: ExitInfo): void => {
        if (this.child === child) this.lastExit = info;
        live.delete(this);
        resolve(info);
      };
      child.once('exit', (code, signal) => done({ code, signal }));
      child.once('error', (err) => {
        fs.appendFileSync(this.spec.logFile, `\n[harness] spawn failed: ${err.message}\n`);
        done({ code: -1, signal: null });
      });
    });
    child.unref();
    live.add(this);
    if (child.pid !== undefined) this.startWatchdog(child.pid);
  }

  /** SIGTERM to the process group, SIGKILL after `graceMs`; resolves once it exited. */
  async stop(graceMs = DEFAULT_STOP_GRACE_MS): Promise<ExitInfo | undefined> {
    if (!this.running || !this.exit) return this.lastExit;
    this.child?.ref(); // keep the event loop alive until the exit is seen
    this.signal('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs);
    });
    const first = await Promise.race([this.exit, timedOut]);
    clearTimeout(timer);
    if (first !== 'timeout') return first;
    this.signal('SIGKILL');
    return this.exit;
  }

  /** SIGKILL to the process group (a crash); resolves once it exited. */
  async kill(): Promise<ExitInfo | undefined> {
    if (!this.running || !this.exit) return this.lastExit;
    this.child?.ref();
    this.signal('SIGKILL');
    return this.exit;
  }

  /** Synchronous kill for exit hooks. */
  killNow(): void {
    if (this.running) this.signal('SIGKILL');
  }

  /** The last `bytes` of the log file, for error messages. */
  logTail(bytes = 4000): string {
    return fileTail(this.spec.logFile, bytes);
  }

  private signal(signal: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal); // the whole group: a wrapper script and what it started
    } catch {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
  }

  private startWatchdog(pid: number): void {
    const script =
      `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${pid} 2>/dev/null; do sleep ${WATCHDOG_INTERVAL_S}; done; ` +
      `kill -0 ${process.pid} 2>/dev/null || kill -KILL -${pid} 2>/dev/null`;
    const dog = spawn('/bin/sh', ['-c', script], { stdio: 'ignore', detached: true });
    dog.unref();
  }
}
