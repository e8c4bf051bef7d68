import type { SyncDistributionRequest } from '@kite/rpc';
import { channelOn, type DistSnapshot } from './distribution';

/** One change the checkers want made on one node. */
export type Task =
  | { kind: 'load'; node: number; collection: number; replica: number; segment: number; rows: number; why: string }
  | { kind: 'release'; node: number; collection: number; replica: number; segments: number[] }
  | { kind: 'watch'; node: number; collection: number; replica: number; channel: string; from: number; why: string }
  | { kind: 'unwatch'; node: number; collection: number; replica: number; channel: string }
  /** A data node consumes a channel, from the channel's checkpoint (read when the task runs). */
  | { kind: 'dn-watch'; node: number; collection: number; channel: string }
  | { kind: 'dn-unwatch'; node: number; collection: number; channel: string }
  /** A delegator is told where its channel's sealed segments are. */
  | { kind: 'sync'; node: number; req: SyncDistributionRequest }
  | { kind: 'index'; node: number; collection: number; segment: number; index: number };

export type TaskKind = Task['kind'];

/**
 * The identity tasks are de-duplicated by: one task per (replica, segment) or (replica, channel) at a time;
 * releases, unwatches and syncs name their node too (one moves a copy off a node while another loads it elsewhere).
 */
export function taskKey(t: Task): string {
  switch (t.kind) {
    case 'load':
      return `load/${t.replica}/${t.segment}`;
    case 'release':
      return `release/${t.replica}/${t.node}/${t.segments.join(',')}`;
    case 'watch':
      return `watch/${t.replica}/${t.channel}`;
    case 'unwatch':
      return `unwatch/${t.replica}/${t.channel}/${t.node}`;
    case 'dn-watch':
      return `dn-watch/${t.channel}`;
    case 'dn-unwatch':
      return `dn-unwatch/${t.channel}/${t.node}`;
    case 'sync':
      return `sync/${t.req.replica_id}/${t.req.channel}/${t.node}`;
    case 'index':
      return `index/${t.segment}/${t.index}`;
  }
}

/** The content of a task beyond its key: a task with the same key and other content replaces a pending one. */
export function taskSignature(t: Task): string {
  return t.kind === 'sync' ? JSON.stringify(t.req) : '';
}

/** Lower runs first when a node's in-flight cap holds tasks back. */
export const PRIORITY: Record<TaskKind, number> = {
  sync: 0,
  'dn-watch': 1,
  watch: 1,
  load: 2,
  unwatch: 3,
  'dn-unwatch': 3,
  release: 3,
  index: 4,
};

/** Kinds that count against a node's in-flight cap (the heavy ones). */
export const CAPPED: ReadonlySet<TaskKind> = new Set<TaskKind>(['load', 'watch', 'dn-watch', 'index']);

export type Effect = 'done' | 'pending' | 'void';

/**
 * Whether a snapshot shows a task's effect: `done`; `void` when it can no longer take effect (its delegator is
 * gone); else `pending`. `indexed` tells whether a segment's meta lists an index file (index builds show there).
 */
export function effectOf(t: Task, snap: DistSnapshot, indexed: (collection: number, segment: number, index: number) => boolean): Effect {
  const n = snap.nodes.get(t.node);
  const dist = n?.dist;
  const has = (b: boolean): Effect => (b ? 'done' : 'pending');
  switch (t.kind) {
    case 'load':
      return has(!!dist?.segments.some((s) => s.segment_id === t.segment && s.replica_id === t.replica && s.collection_id === t.collection));
    case 'release':
      return has(!dist?.segments.some((s) => s.replica_id === t.replica && t.segments.includes(s.segment_id)));
    case 'watch':
      return has(!!n && !!channelOn(n, t.replica, t.channel));
    case 'unwatch':
      return has(!n || !channelOn(n, t.replica, t.channel));
    case 'dn-watch':
      return has(!!dist?.channels.some((c) => c.channel === t.channel));
    case 'dn-unwatch':
      return has(!dist?.channels.some((c) => c.channel === t.channel));
    case 'sync': {
      const ch = n && channelOn(n, t.req.replica_id, t.req.channel);
      if (!ch) return 'void';
      return has(ch.serviceable && ch.watermark === t.req.watermark);
    }
    case 'index':
      return has(indexed(t.collection, t.segment, t.index));
  }
}
