/** What happened, as the web UI's timeline names it. */
export type ClusterEventKind =
  | 'coordinator-started'
  | 'node-joined'
  | 'node-stopping'
  | 'node-suspect'
  | 'node-lost'
  | 'segment-moved'
  | 'delegator-started'
  | 'delegator-rebuilt'
  | 'collection-loaded';

export interface ClusterEvent {
  /** Increases by one per event in this coordinator's life. */
  readonly seq: number;
  readonly atMs: number;
  readonly kind: ClusterEventKind;
  /** The node it concerns (0: none). */
  readonly nodeId: number;
  /** The collection it concerns (0: none). */
  readonly collectionId: number;
  readonly message: string;
}

/**
 * The coordinator's recent cluster events (nodes joining and leaving, segments moving, delegators rebuilt), kept in
 * memory in a ring of `capacity`: the oldest is overwritten first. They describe this coordinator's term only (a
 * standby that takes over starts a new list), which is what an operator watching a failover needs; the durable
 * record of what happened is the logs.
 */
export class EventLog {
  private readonly ring: ClusterEvent[] = [];
  private next = 0;
  private seq = 0;

  constructor(
    readonly capacity: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`EventLog capacity must be a positive integer, got ${capacity}`);
  }

  record(kind: ClusterEventKind, message: string, at: { node?: number; collection?: number } = {}): ClusterEvent {
    const e: ClusterEvent = { seq: ++this.seq, atMs: this.now(), kind, nodeId: at.node ?? 0, collectionId: at.collection ?? 0, message };
    if (this.ring.length < this.capacity) this.ring.push(e);
    else this.ring[this.next] = e;
    this.next = (this.next + 1) % this.capacity;
    return e;
  }

  /** The newest `max` events (all when omitted), oldest first. */
  recent(max = this.capacity): ClusterEvent[] {
    const ordered = this.ring.length < this.capacity ? [...this.ring] : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
    return max >= ordered.length ? ordered : ordered.slice(ordered.length - Math.max(0, max));
  }
}
