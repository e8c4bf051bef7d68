import { KiteError } from '@kite/common';
import type { ReplicaRecord } from '@kite/segment';
import { activeNodes, holders, replicaNodes, type DistSnapshot } from './distribution';
import type { CollectionTarget } from './target';
import type { Task } from './tasks';

/**
 * A segment move asked for by LoadBalance, in one replica. It goes through:
 * - loading: the segment is loaded on `dst` (an ordinary load task);
 * - switching: `dst` holds it; from this pass on the delegators are told to search it there (placement prefers dst);
 * - releasing: from the next pass on, the copies elsewhere in the replica are released;
 * - done: only `dst` holds it. The move stays as a pin: automatic balance leaves the segment where the operator put
 *   it while `dst` holds it (the pin goes with the segment, a release of the collection, or a coordinator restart).
 * A search planned on the old copy while it is released fails with a retriable error, and the proxy retries it on
 * the new placement, as for any automatic move.
 */
export interface ManualMove {
  collection: number;
  replica: number;
  segment: number;
  rows: number;
  src: number;
  dst: number;
  state: 'loading' | 'switching' | 'releasing' | 'done';
}

interface Waiter {
  keys: string[];
  resolve: () => void;
  reject: (e: unknown) => void;
}

const moveKey = (replica: number, segment: number): string => `${replica}/${segment}`;

/** The moves LoadBalance asked for, and the calls waiting for them to finish. */
export class ManualMoves {
  private readonly moves = new Map<string, ManualMove>();
  private readonly failed = new Map<string, string>();
  private waiters: Waiter[] = [];

  /** Starts moves (replacing any earlier move of the same segments); resolves once all are done or fails naming why. */
  start(moves: readonly Omit<ManualMove, 'state'>[], timeoutMs: number): Promise<void> {
    const keys = moves.map((m) => moveKey(m.replica, m.segment));
    for (const m of moves) {
      const k = moveKey(m.replica, m.segment);
      this.failed.delete(k);
      this.moves.set(k, { ...m, state: 'loading' });
    }
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { keys, resolve, reject };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        const left = keys.filter((k) => this.moves.get(k)?.state !== 'done');
        reject(new KiteError('DeadlineExceeded', `load balance did not finish within ${timeoutMs} ms: segments still moving: ${left.map((k) => k.split('/')[1]).join(', ')}; they keep moving, check with GetQuerySegmentInfo`, { retriable: true }));
      }, timeoutMs);
      w.resolve = () => {
        clearTimeout(timer);
        resolve();
      };
      w.reject = (e) => {
        clearTimeout(timer);
        reject(e);
      };
      this.waiters.push(w);
      this.settle();
    });
  }

  /** Moves of a replica (every state). */
  of(replica: number): ManualMove[] {
    return [...this.moves.values()].filter((m) => m.replica === replica);
  }

  /** Forgets the moves of a released or dropped collection. */
  forget(collection: number): void {
    for (const [k, m] of this.moves) if (m.collection === collection) this.drop(k, `collection ${collection} was released`);
    this.settle();
  }

  private drop(k: string, why: string): void {
    const m = this.moves.get(k);
    this.moves.delete(k);
    if (m && m.state !== 'done') this.failed.set(k, why);
  }

  /**
   * One pass over the replica's moves against the snapshot: advances their states and plans the loads and releases
   * they need. Moves that can no longer finish (the segment left the target, dst stopped serving) are dropped, and
   * their waiters fail naming why.
   */
  check(t: CollectionTarget, r: ReplicaRecord, snap: DistSnapshot): Task[] {
    const coll = t.collection.collectionID;
    const active = new Set(activeNodes(snap, r).map((n) => n.id));
    const held = holders(coll, r, replicaNodes(snap, r));
    const out: Task[] = [];
    for (const m of this.of(r.replicaID)) {
      const k = moveKey(m.replica, m.segment);
      const on = (held.get(m.segment) ?? []).map((n) => n.id);
      if (!t.all.has(m.segment)) {
        this.drop(k, `segment ${m.segment} is no longer part of the collection (compacted or dropped)`);
        continue;
      }
      if (!active.has(m.dst)) {
        this.drop(k, `destination node ${m.dst} no longer serves replica ${m.replica}`);
        continue;
      }
      const onDst = on.includes(m.dst);
      if (m.state === 'done' && onDst) continue;
      if (m.state === 'loading') {
        if (onDst) m.state = 'switching';
        else out.push({ kind: 'load', node: m.dst, collection: coll, replica: m.replica, segment: m.segment, rows: m.rows, why: 'load balance' });
      } else if (!onDst) {
        // dst lost it: the pin goes and the ordinary checkers place the segment again.
        this.drop(k, `node ${m.dst} lost segment ${m.segment} during the move`);
      } else {
        // switching: the delegators were told to search dst in the last pass; from now on the old copies go.
        m.state = 'releasing';
        const others = on.filter((id) => id !== m.dst);
        if (others.length === 0) m.state = 'done';
        for (const id of others) out.push({ kind: 'release', node: id, collection: coll, replica: m.replica, segments: [m.segment] });
      }
    }
    this.settle();
    return out;
  }

  /** Where each moved segment should be searched: dst, once it holds it. */
  preferred(replica: number): Map<number, number> {
    return new Map(this.of(replica).filter((m) => m.state !== 'loading').map((m) => [m.segment, m.dst]));
  }

  /** Segments whose copies the moves release themselves (the redundancy checker leaves them alone). */
  moving(replica: number): Set<number> {
    return new Set(this.of(replica).filter((m) => m.state !== 'done').map((m) => m.segment));
  }

  /** Segments automatic balance must not move: every moved segment, done or not. */
  pinned(replica: number): Set<number> {
    return new Set(this.of(replica).map((m) => m.segment));
  }

  private settle(): void {
    this.waiters = this.waiters.filter((w) => {
      const why = w.keys.map((k) => this.failed.get(k)).find((x) => x !== undefined);
      if (why) {
        w.reject(new KiteError('ServiceUnavailable', `load balance failed: ${why}`, { retriable: false }));
        return false;
      }
      if (w.keys.every((k) => this.moves.get(k)?.state === 'done')) {
        w.resolve();
        return false;
      }
      return true;
    });
  }
}
