/**
 * The query node's waits, driven by events with a deadline each (no polling): its work moving to other query nodes
 * during a graceful stop (session watch plus its own release events), and a collection's record arriving through the
 * meta store watch.
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from '@kite/common';
import type { MetaStore } from '@kite/metastore';
import type { CollectionMeta } from '@kite/segment';
import { SessionView, type MetaCache } from '@kite/session';

export type HandOver = 'done' | 'no-peers' | 'timeout';

export interface HandOverOptions {
  store: MetaStore;
  root: string;
  /** This node's serverID (its own session is not a peer). */
  self: number;
  /** Whether segments or channels are still assigned here. */
  hasWork(): boolean;
  /** Emits `changed` when work is released here. */
  work: EventEmitter;
  /** Epoch ms. */
  deadline: number;
  log: Logger;
}

/**
 * Waits until this node holds no work ('done'), or no live query node that is not stopping itself is left to take
 * it ('no-peers': a whole cluster may be stopping at once), or the deadline passes ('timeout'). Peers come from a
 * watch of the sessions; a meta store that cannot be read counts as no peers.
 */
export async function waitForHandOver(o: HandOverOptions): Promise<HandOver> {
  if (!o.hasWork()) return 'done';
  const view = new SessionView(o.store, o.root);
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(0, o.deadline - Date.now()));
  });
  let check: (() => void) | undefined;
  const starting = view.start().then(() => 'started' as const, () => 'no-peers' as const);
  try {
    const started = await Promise.race([starting, expired]);
    if (started !== 'started') return started;
    const peers = (): number => view.byRole('querynode').filter((s) => s.serverID !== o.self && !s.stopping).length;
    const outcome = new Promise<HandOver>((resolve) => {
      check = () => {
        if (!o.hasWork()) resolve('done');
        else if (peers() === 0) resolve('no-peers');
      };
    });
    for (const ev of ['up', 'update', 'down']) view.on(ev, check!);
    o.work.on('changed', check!);
    check!();
    return await Promise.race([outcome, expired]);
  } finally {
    clearTimeout(timer);
    if (check) o.work.off('changed', check);
    view.removeAllListeners();
    // A watch still being set up at the deadline is closed once it is (not awaited: the stop goes on).
    const closing = starting.then((s) => (s === 'started' ? view.close() : undefined)).catch((e: unknown) => o.log.warn({ err: String(e) }, 'closing the session watch failed'));
    if ((await Promise.race([starting, Promise.resolve('pending' as const)])) !== 'pending') await closing;
  }
}

/**
 * The collection's record: from the cache, or the moment the cache's watch delivers it (an assignment can arrive
 * before the watch has caught up). After `timeoutMs` without it, fails as `meta.mustByID` does.
 */
export function collectionArrival(meta: MetaCache, id: number, timeoutMs: number): Promise<CollectionMeta> {
  const have = meta.byID(id);
  if (have) return Promise.resolve(have);
  return new Promise<CollectionMeta>((resolve, reject) => {
    const onCollection = (c: CollectionMeta | undefined, cid: number): void => {
      if (!c || cid !== id) return;
      done();
      resolve(c);
    };
    const timer = setTimeout(() => {
      done();
      try {
        resolve(meta.mustByID(id));
      } catch (e) {
        reject(e);
      }
    }, timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      meta.off('collection', onCollection);
    };
    meta.on('collection', onCollection);
  });
}
