import { healthyNodes, type DistSnapshot } from '../distribution';
import type { CollectionTarget } from '../target';
import type { Task } from '../tasks';

/**
 * Index builds: every segment with rows that lacks a file for one of its collection's indexes gets one built by a
 * data node (spread by segment id). `targets` covers every collection, loaded or not.
 */
export function checkIndexes(targets: readonly CollectionTarget[], snap: DistSnapshot): Task[] {
  const dns = healthyNodes(snap, 'datanode');
  if (dns.length === 0) return [];
  const out: Task[] = [];
  for (const t of targets) {
    for (const idx of t.collection.indexes) {
      for (const s of t.segments) {
        if (s.indexes.some((f) => f.indexID === idx.indexID)) continue;
        const dn = dns[s.segmentID % dns.length]!;
        out.push({ kind: 'index', node: dn.id, collection: t.collection.collectionID, segment: s.segmentID, index: idx.indexID });
      }
    }
  }
  return out;
}
