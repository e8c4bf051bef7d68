import type { MetaStore } from '@kite/metastore';
import type * as M from '@kite/rpc';
import { codecs, keys, type ReplicaRecord } from '@kite/segment';
import { within } from './deadline';
import { channelOn, delegators, type DistSnapshot } from './distribution';

/** Each replica's delegators, serviceable ones first; nodes failing their pulls are left out (out of routing). */
export function leadersOf(channels: readonly string[], replicas: readonly ReplicaRecord[], snap: DistSnapshot): M.ReplicaInfo[] {
  const out: M.ReplicaInfo[] = [];
  for (const rep of replicas) {
    const shards: M.ShardLeader[] = [];
    for (const channel of channels) {
      const ds = delegators(snap, rep, channel).map((n) => ({ n, ch: channelOn(n, rep.replicaID, channel)! }));
      ds.sort((a, b) => Number(b.ch.serviceable) - Number(a.ch.serviceable) || Number(a.n.stopping) - Number(b.n.stopping));
      for (const { n, ch } of ds) shards.push({ channel, node_id: n.id, address: n.address, serviceable: ch.serviceable });
    }
    out.push({ replica_id: rep.replicaID, node_ids: rep.nodes, shards });
  }
  return out;
}

/** Publishes shard leaders to `<root>/leaders/<collection>` when they change, so proxies are told at once. */
export class LeaderPublisher {
  private readonly published = new Map<number, string>();

  constructor(
    private readonly store: MetaStore,
    private readonly root: string,
    private readonly metaTimeoutMs: number,
  ) {}

  /** Writes each loaded collection's leaders that changed and deletes those of collections no longer loaded. */
  async publish(loaded: ReadonlyMap<number, M.ReplicaInfo[]>): Promise<void> {
    for (const [id, leaders] of loaded) {
      const value = codecs.leaders.encode(leaders);
      if (this.published.get(id) === value) continue;
      const key = keys.leaders(this.root, id);
      await within(this.store.put(key, value), this.metaTimeoutMs, `meta store put ${key}`);
      this.published.set(id, value);
    }
    for (const id of [...this.published.keys()]) {
      if (loaded.has(id)) continue;
      const key = keys.leaders(this.root, id);
      await within(this.store.delete(key), this.metaTimeoutMs, `meta store delete ${key}`);
      this.published.delete(id);
    }
  }
}
