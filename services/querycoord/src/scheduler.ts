import type { Logger } from '@kite/common';
import { counter, gauge } from '@kite/observe';
import type { DistSnapshot } from './distribution';
import { CAPPED, PRIORITY, taskKey, taskSignature, type Effect, type Task, type TaskKind } from './tasks';

const tasksInflight = gauge('kite_querycoord_tasks_inflight', 'tasks the scheduler is running or waiting to see take effect');
const taskOutcomes = counter('kite_querycoord_tasks_total', 'tasks by type and outcome: ok (seen done), failed (RPC error), timeout (never seen done), dropped (node gone or superseded)', ['type', 'outcome']);

export type TaskState = 'queued' | 'running' | 'waiting';

/** A task the scheduler holds, as others may read it. */
export interface PendingTask {
  readonly key: string;
  readonly task: Task;
  readonly state: TaskState;
  /** When it was submitted. */
  readonly created: number;
  /** When its RPC started (running, waiting). */
  readonly started: number | undefined;
  /** When its RPC returned (waiting). */
  readonly returned: number | undefined;
}

interface Entry {
  key: string;
  sig: string;
  seq: number;
  task: Task;
  state: TaskState;
  created: number;
  started?: number;
  returned?: number;
}

export interface SchedulerOptions {
  /** Tasks of capped kinds started and not yet seen done, per node. */
  maxTasksPerNode: number;
  /** How long after its RPC returned a task may take to show in a snapshot before it is planned again. */
  retryMs: number;
  /** Per-kind overrides of `retryMs`. */
  retryMsByKind?: Partial<Record<TaskKind, number>>;
  /** Entries older than this are forgotten whatever their state. */
  retentionMs: number;
  now?: () => number;
}

export interface SchedulerHooks {
  /** Runs a task's RPC; resolves when the node answered OK. */
  run(task: Task): Promise<void>;
  /** Whether a snapshot shows the task's effect. */
  effect(task: Task, snap: DistSnapshot): Effect;
  /** A task's RPC returned (e.g. to pull again at once). */
  onReturned?(task: Task): void;
  /** A task was seen done (its effect showed in a snapshot). */
  onDone?(task: Task): void;
  /** A task ended without being seen done (failed, timed out, dropped): the checkers may plan it again. */
  onAbandoned?(task: Task, outcome: 'failed' | 'timeout' | 'dropped'): void;
}

/**
 * The one task scheduler. Tasks are de-duplicated by key (a task with the key of a pending one is ignored, unless its
 * content differs, when it replaces it), started in priority order with at most `maxTasksPerNode` capped tasks in
 * flight per node, and done only when a distribution snapshot taken after the task started shows its effect. A task
 * whose RPC returned but whose effect does not show within the retry time is given up, so the next check plans it
 * again; tasks to nodes that are gone or suspect are dropped.
 */
export class Scheduler {
  private readonly entries = new Map<string, Entry>();
  private seq = 0;
  private readonly now: () => number;

  constructor(
    private readonly opts: SchedulerOptions,
    private readonly hooks: SchedulerHooks,
    private readonly log: Logger,
  ) {
    this.now = opts.now ?? Date.now;
  }

  pending(): PendingTask[] {
    return [...this.entries.values()].map((e) => ({ key: e.key, task: e.task, state: e.state, created: e.created, started: e.started, returned: e.returned }));
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Queues tasks; returns those accepted (not duplicates of pending ones). */
  submit(tasks: readonly Task[]): Task[] {
    const accepted: Task[] = [];
    for (const task of tasks) {
      const key = taskKey(task);
      const sig = taskSignature(task);
      const cur = this.entries.get(key);
      if (cur && cur.sig === sig) continue;
      if (cur) this.end(cur, 'dropped');
      this.entries.set(key, { key, sig, seq: this.seq++, task, state: 'queued', created: this.now() });
      accepted.push(task);
    }
    tasksInflight.set(this.entries.size);
    return accepted;
  }

  private retryMs(kind: TaskKind): number {
    return this.opts.retryMsByKind?.[kind] ?? this.opts.retryMs;
  }

  private end(e: Entry, outcome: 'ok' | 'failed' | 'timeout' | 'dropped'): void {
    if (this.entries.get(e.key) !== e) return;
    this.entries.delete(e.key);
    taskOutcomes.inc({ type: e.task.kind, outcome });
    if (outcome === 'ok') this.hooks.onDone?.(e.task);
    else this.hooks.onAbandoned?.(e.task, outcome);
    tasksInflight.set(this.entries.size);
  }

  /**
   * Settles tasks by a snapshot: started tasks whose effect it shows are done; waiting ones past their retry time are
   * given up; tasks to nodes the snapshot has as gone, suspect or absent are dropped.
   */
  observe(snap: DistSnapshot): void {
    const now = this.now();
    for (const e of [...this.entries.values()]) {
      const node = snap.nodes.get(e.task.node);
      if (!node || node.state === 'gone' || node.state === 'suspect') {
        this.log.info({ task: e.key, node: e.task.node, state: node?.state ?? 'unknown' }, 'task dropped: its node is not answering');
        this.end(e, 'dropped');
        continue;
      }
      if (now - e.created > this.opts.retentionMs) {
        this.end(e, 'timeout');
        continue;
      }
      if (e.started === undefined || snap.startedAt < e.started) continue;
      const effect = this.hooks.effect(e.task, snap);
      if (effect === 'done' && e.state === 'waiting') this.end(e, 'ok');
      else if (effect === 'void') this.end(e, 'dropped');
      else if (e.state === 'waiting' && now - e.returned! >= this.retryMs(e.task.kind)) {
        this.log.warn({ task: e.key, node: e.task.node }, 'task returned but its effect never showed; planning it again');
        this.end(e, 'timeout');
      }
    }
  }

  /** Starts queued tasks, highest priority first, within each node's cap. */
  dispatch(): void {
    const busy = new Map<number, number>();
    for (const e of this.entries.values()) {
      if (e.state !== 'queued' && CAPPED.has(e.task.kind)) busy.set(e.task.node, (busy.get(e.task.node) ?? 0) + 1);
    }
    const queued = [...this.entries.values()].filter((e) => e.state === 'queued').sort((a, b) => PRIORITY[a.task.kind] - PRIORITY[b.task.kind] || a.seq - b.seq);
    for (const e of queued) {
      if (CAPPED.has(e.task.kind)) {
        const n = busy.get(e.task.node) ?? 0;
        if (n >= this.opts.maxTasksPerNode) continue;
        busy.set(e.task.node, n + 1);
      }
      this.start(e);
    }
  }

  private start(e: Entry): void {
    e.state = 'running';
    e.started = this.now();
    let p: Promise<void>;
    try {
      p = this.hooks.run(e.task);
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      () => {
        if (this.entries.get(e.key) !== e) return;
        e.state = 'waiting';
        e.returned = this.now();
        this.hooks.onReturned?.(e.task);
      },
      (err: unknown) => {
        if (this.entries.get(e.key) !== e) return;
        this.log.warn({ task: e.key, err: String(err) }, 'task failed');
        this.end(e, 'failed');
        this.dispatch();
      },
    );
  }

  /** Forgets every task (the coordinator stops). */
  clear(): void {
    this.entries.clear();
    tasksInflight.set(0);
  }
}
