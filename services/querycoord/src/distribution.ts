import { KiteError, type Logger } from '@kite/common';
import type { DistributionResponse, ChannelDist } from '@kite/rpc';
import type { ReplicaRecord } from '@kite/segment';
import type { SessionInfo } from '@kite/session';
import { counter } from '@kite/observe';
import { within } from './deadline';
import type { DataNodeClient, NodeConnector, QueryNodeClient } from './nodes';

const nodeEvents = counter('kite_querycoord_node_events_total', 'node lifecycle events: joined, suspect (failed pull), recovered, down (session gone)', ['role', 'event']);

/**
 * A node's state as the coordinator sees it (after memberlist's alive/suspect/dead):
 * - joining: its session is up, no distribution pull has answered yet;
 * - healthy: its last pull answered and it is not stopping;
 * - suspect: its last pull failed; out of placement and routing until one answers;
 * - stopping: it answers but is shutting down gracefully: it serves until its work has moved, and gets no new work;
 * - gone: its session is gone (shown in one snapshot, then forgotten).
 */
export type NodeStateName = 'joining' | 'healthy' | 'suspect' | 'stopping' | 'gone';

export type NodeRole = 'querynode' | 'datanode';

/** One node in a distribution snapshot (read-only). */
export interface NodeView {
  readonly id: number;
  readonly role: NodeRole;
  readonly address: string;
  readonly state: NodeStateName;
  /** When `state` last changed (ms since the epoch). */
  readonly since: number;
  /** Its session says it is shutting down (it may be suspect as well). */
  readonly stopping: boolean;
  /** Consecutive failed pulls. */
  readonly failures: number;
  /** What it reported in its last answered pull. */
  readonly dist: DistributionResponse | undefined;
}

/** What is loaded where, as of one pull of every node. */
export interface DistSnapshot {
  /** Increases with each pull. */
  readonly seq: number;
  /** When the pull started: the snapshot shows every effect that completed before then. */
  readonly startedAt: number;
  readonly nodes: ReadonlyMap<number, NodeView>;
}

/** A node whose last pull answered (healthy or stopping): it serves what it reports. */
export function answering(n: NodeView | undefined): n is NodeView & { dist: DistributionResponse } {
  return !!n && (n.state === 'healthy' || n.state === 'stopping') && !!n.dist;
}

export function nodesOf(snap: DistSnapshot, role: NodeRole): NodeView[] {
  return [...snap.nodes.values()].filter((n) => n.role === role && n.state !== 'gone');
}

/** Nodes of a role that may take new work. */
export function healthyNodes(snap: DistSnapshot, role: NodeRole): (NodeView & { dist: DistributionResponse })[] {
  return [...snap.nodes.values()].filter((n): n is NodeView & { dist: DistributionResponse } => n.role === role && n.state === 'healthy' && !!n.dist);
}

/** Replica members that answer pulls (stopping ones included: they still serve). */
export function replicaNodes(snap: DistSnapshot, r: ReplicaRecord): (NodeView & { dist: DistributionResponse })[] {
  return r.nodes.map((id) => snap.nodes.get(id)).filter((n): n is NodeView & { dist: DistributionResponse } => answering(n) && n.role === 'querynode');
}

/** Replica members that may take new work. */
export function activeNodes(snap: DistSnapshot, r: ReplicaRecord): (NodeView & { dist: DistributionResponse })[] {
  return replicaNodes(snap, r).filter((n) => !n.stopping);
}

export function channelOn(n: NodeView, replica: number, channel: string): ChannelDist | undefined {
  return n.dist?.channels.find((ch) => ch.channel === channel && ch.replica_id === replica);
}

/** The replica's members that report a delegator for the channel. */
export function delegators(snap: DistSnapshot, r: ReplicaRecord, channel: string): (NodeView & { dist: DistributionResponse })[] {
  return replicaNodes(snap, r).filter((n) => !!channelOn(n, r.replicaID, channel));
}

/** Where each segment of the collection is loaded within the replica, on the given nodes (all holders). */
export function holders(collection: number, r: ReplicaRecord, nodes: readonly NodeView[]): Map<number, NodeView[]> {
  const out = new Map<number, NodeView[]>();
  for (const n of nodes) {
    for (const s of n.dist?.segments ?? []) {
      if (s.collection_id !== collection || s.replica_id !== r.replicaID) continue;
      out.set(s.segment_id, [...(out.get(s.segment_id) ?? []), n]);
    }
  }
  return out;
}

/**
 * One serving node per segment in the replica: the node `prefer` names for it when that node holds it (the target
 * of a LoadBalance move), else an active holder when there is one.
 */
export function placement(snap: DistSnapshot, collection: number, r: ReplicaRecord, prefer: ReadonlyMap<number, number> = new Map()): Map<number, NodeView> {
  const out = new Map<number, NodeView>();
  for (const [seg, ns] of holders(collection, r, replicaNodes(snap, r))) out.set(seg, ns.find((n) => n.id === prefer.get(seg)) ?? ns.find((n) => !n.stopping) ?? ns[0]!);
  return out;
}

export function rowsOn(n: NodeView): number {
  return (n.dist?.segments ?? []).reduce((s, x) => s + x.num_rows, 0);
}

const gone = (n: { state: NodeStateName }): boolean => n.state === 'gone';

interface NodeRecord {
  info: SessionInfo;
  role: NodeRole;
  state: NodeStateName;
  since: number;
  failures: number;
  dist?: DistributionResponse;
  qn?: QueryNodeClient;
  dn?: DataNodeClient;
  /** A suspect node's pull still out after its pass stopped waiting for it (see `pull`). */
  probe?: Promise<unknown>;
  /** That pull answered: the next pass pulls the node as usual. */
  probeAnswered?: boolean;
}

export interface DistributionOptions {
  pullTimeoutMs: number;
  /**
   * How long a pass waits for the pull of a node that is already suspect (its last pull failed), at most
   * pullTimeoutMs. Such a pull goes on in the background up to pullTimeoutMs; when it answers, `onSuspectAnswered`
   * is called and the next pass pulls the node as usual. So a node that does not answer (a network partition)
   * holds one pass for pullTimeoutMs, not every pass. Default: pullTimeoutMs (every pass waits).
   */
  suspectWaitMs?: number;
  onSuspectAnswered?: () => void;
  now?: () => number;
}

/**
 * What is loaded, per node: node records kept from session events, and read-only snapshots refreshed by one pull
 * loop (`pull`, called by the coordinator's tick). Consumers read snapshots only.
 */
export class DistributionManager {
  private readonly nodes = new Map<number, NodeRecord>();
  private current: DistSnapshot = { seq: 0, startedAt: 0, nodes: new Map() };
  private readonly now: () => number;

  constructor(
    private readonly connector: NodeConnector,
    private readonly opts: DistributionOptions,
    private readonly log: Logger,
  ) {
    this.now = opts.now ?? Date.now;
  }

  snapshot(): DistSnapshot {
    return this.current;
  }

  /** Nodes of a role with a session now (any state but gone), which may be newer than the last snapshot. */
  members(role: NodeRole): { id: number; state: NodeStateName; stopping: boolean }[] {
    return [...this.nodes.entries()].filter(([, n]) => n.role === role && n.state !== 'gone').map(([id, n]) => ({ id, state: n.state, stopping: n.info.stopping }));
  }

  queryNode(id: number): QueryNodeClient | undefined {
    const n = this.nodes.get(id);
    return n && n.state !== 'gone' ? n.qn : undefined;
  }

  dataNode(id: number): DataNodeClient | undefined {
    const n = this.nodes.get(id);
    return n && n.state !== 'gone' ? n.dn : undefined;
  }

  private setState(n: NodeRecord, state: NodeStateName): void {
    if (n.state === state) return;
    n.state = state;
    n.since = this.now();
  }

  /** A session came up. Returns whether it is a node this coordinator tracks (a query or data node, new). */
  join(info: SessionInfo): boolean {
    const cur = this.nodes.get(info.serverID);
    if ((cur && cur.state !== 'gone') || (info.role !== 'querynode' && info.role !== 'datanode')) return false;
    const n: NodeRecord = { info, role: info.role, state: 'joining', since: this.now(), failures: 0 };
    if (info.role === 'querynode') n.qn = this.connector.queryNode(info.address);
    else n.dn = this.connector.dataNode(info.address);
    this.nodes.set(info.serverID, n);
    this.log.info({ node: info.serverID, role: info.role, address: info.address }, 'node joined');
    nodeEvents.inc({ role: info.role, event: 'joined' });
    return true;
  }

  /** A session's record changed (it says it is stopping). */
  update(info: SessionInfo): void {
    const n = this.nodes.get(info.serverID);
    if (!n || n.state === 'gone') return;
    n.info = info;
    if (info.stopping && n.state === 'healthy') this.setState(n, 'stopping');
  }

  /** A session is gone. Returns whether it was a tracked node. */
  leave(info: SessionInfo): boolean {
    const n = this.nodes.get(info.serverID);
    if (!n || n.state === 'gone') return false;
    n.qn?.close();
    n.dn?.close();
    this.setState(n, 'gone');
    // The snapshot shows it gone at once (routing and load progress stop counting it before the next pull).
    const prev = this.current.nodes.get(info.serverID);
    if (prev) {
      const nodes = new Map(this.current.nodes);
      nodes.set(info.serverID, Object.freeze({ ...prev, state: 'gone' as const, since: n.since }));
      this.current = Object.freeze({ seq: this.current.seq + 1, startedAt: this.current.startedAt, nodes });
    }
    this.log.warn({ node: info.serverID, role: n.role }, 'node session gone; reassigning its work');
    nodeEvents.inc({ role: n.role, event: 'down' });
    return true;
  }

  /**
   * Pulls every node's distribution, each bounded by the pull timeout, and makes the result the current snapshot.
   * Never throws: a failed pull makes its node suspect. `sessionOf` gives a node's latest session record.
   */
  async pull(sessionOf: (role: NodeRole, id: number) => SessionInfo | undefined = () => undefined): Promise<DistSnapshot> {
    const startedAt = this.now();
    // Nodes shown gone in the last snapshot are forgotten.
    for (const [id, n] of this.nodes) if (n.state === 'gone' && this.current.nodes.get(id)?.state === 'gone') this.nodes.delete(id);
    await Promise.all(
      [...this.nodes.values()].map(async (n) => {
        if (n.state === 'gone') return;
        const api = n.qn ?? n.dn!;
        try {
          const timeoutMs = this.opts.pullTimeoutMs;
          const waitMs = Math.min(timeoutMs, this.opts.suspectWaitMs ?? timeoutMs);
          const probing = n.state === 'suspect' && !n.probeAnswered && waitMs < timeoutMs;
          // Already suspect, and a pull of an earlier pass is still out: no second one, and no waiting.
          if (probing && n.probe) throw new KiteError('DeadlineExceeded', `node ${n.info.serverID}: the pull of an earlier pass is still out`);
          n.probeAnswered = false;
          const pull = within(api.GetDistribution({}, { timeoutMs }), timeoutMs, `distribution pull from node ${n.info.serverID}`);
          let dist: DistributionResponse;
          if (probing) {
            // A suspect node's pull gets waitMs of this pass, then goes on in the background; only its answering is
            // used then (its result predates the next pass's start): the next pass pulls the node as usual.
            let left = false;
            n.probe = pull
              .then(
                () => {
                  if (!left || gone(n)) return;
                  n.probeAnswered = true;
                  this.opts.onSuspectAnswered?.();
                },
                () => undefined,
              )
              .finally(() => (n.probe = undefined));
            try {
              dist = await within(pull, waitMs, `distribution pull from suspect node ${n.info.serverID}`);
            } catch (e) {
              left = true;
              throw e;
            }
          } else {
            dist = await pull;
          }
          // The session may have gone while the pull was out.
          if (gone(n)) return;
          n.dist = dist;
          if (n.failures > 0) nodeEvents.inc({ role: n.role, event: 'recovered' });
          n.failures = 0;
          const cur = sessionOf(n.role, n.info.serverID);
          if (cur) n.info = cur;
          this.setState(n, n.info.stopping ? 'stopping' : 'healthy');
        } catch (e) {
          if (gone(n)) return;
          n.failures++;
          this.setState(n, 'suspect');
          if (n.failures === 1) {
            nodeEvents.inc({ role: n.role, event: 'suspect' });
            this.log.warn({ node: n.info.serverID, err: String(e) }, 'distribution pull failed; node out of routing');
          }
        }
      }),
    );
    const nodes = new Map<number, NodeView>();
    for (const [id, n] of this.nodes) {
      nodes.set(id, Object.freeze({ id, role: n.role, address: n.info.address, state: n.state, since: n.since, stopping: n.info.stopping, failures: n.failures, dist: n.dist }));
    }
    this.current = Object.freeze({ seq: this.current.seq + 1, startedAt, nodes });
    return this.current;
  }

  close(): void {
    for (const n of this.nodes.values()) {
      n.qn?.close();
      n.dn?.close();
    }
  }
}
