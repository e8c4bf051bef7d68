import { channelsOf, type CollectionMeta } from '@kite/segment';
import { healthyNodes, type DistSnapshot } from '../distribution';
import type { Task } from '../tasks';
import { lightest } from './common';

/**
 * Data-node channels: every channel of every collection (loaded or not) is consumed by exactly one healthy data
 * node. An unowned channel goes to the data node with the fewest channels, counting those assigned in this pass
 * (so a new collection's channels spread); extra owners, and owners of channels no collection has, unwatch.
 */
export function checkDataChannels(collections: readonly CollectionMeta[], snap: DistSnapshot): Task[] {
  const dns = healthyNodes(snap, 'datanode');
  if (dns.length === 0) return [];
  const out: Task[] = [];
  const owners = new Map<string, number[]>();
  for (const n of dns) for (const ch of n.dist.channels) owners.set(ch.channel, [...(owners.get(ch.channel) ?? []), n.id]);
  const wanted = new Set<string>();
  const assigned = new Map<number, number>();
  for (const c of collections) {
    for (const channel of channelsOf(c)) {
      wanted.add(channel);
      const has = owners.get(channel) ?? [];
      if (has.length > 0) {
        for (const extra of has.slice(1)) out.push({ kind: 'dn-unwatch', node: extra, collection: c.collectionID, channel });
        continue;
      }
      const dest = lightest(dns, (n) => n.dist.channels.length + (assigned.get(n.id) ?? 0));
      assigned.set(dest.id, (assigned.get(dest.id) ?? 0) + 1);
      out.push({ kind: 'dn-watch', node: dest.id, collection: c.collectionID, channel });
    }
  }
  for (const n of dns) {
    for (const ch of n.dist.channels) if (!wanted.has(ch.channel)) out.push({ kind: 'dn-unwatch', node: n.id, collection: ch.collection_id, channel: ch.channel });
  }
  return out;
}
