import type { MetaStore } from '@kite/metastore';
import { codecs, idAfter, keys, type ReplicaRecord } from '@kite/segment';
import { within } from './deadline';

/** Replica membership of loaded collections, kept in memory and saved under `<root>/meta/replica/<collection>`. */
export class ReplicaStore {
  private readonly byCollection = new Map<number, ReplicaRecord[]>();

  constructor(
    private readonly store: MetaStore,
    private readonly root: string,
    private readonly metaTimeoutMs: number,
  ) {}

  async load(): Promise<void> {
    const prefix = keys.replicas(this.root);
    const reps = await this.store.getPrefix(prefix);
    for (const kv of reps.kvs) this.byCollection.set(idAfter(prefix, kv.key), codecs.replicas.decode(kv.value, kv.key));
  }

  get(collectionID: number): readonly ReplicaRecord[] | undefined {
    return this.byCollection.get(collectionID);
  }

  async save(collectionID: number, reps: ReplicaRecord[]): Promise<void> {
    this.byCollection.set(collectionID, reps);
    const key = keys.replica(this.root, collectionID);
    await within(this.store.put(key, codecs.replicas.encode(reps)), this.metaTimeoutMs, `meta store put ${key}`);
  }

  async remove(collectionID: number): Promise<void> {
    this.byCollection.delete(collectionID);
    const key = keys.replica(this.root, collectionID);
    await within(this.store.delete(key), this.metaTimeoutMs, `meta store delete ${key}`);
  }

  /** Takes a node whose session is gone out of every replica; returns the collections whose membership changed. */
  dropNode(node: number): number[] {
    const changed: number[] = [];
    for (const [coll, reps] of this.byCollection) {
      if (!reps.some((r) => r.nodes.includes(node))) continue;
      this.byCollection.set(coll, reps.map((r) => ({ replicaID: r.replicaID, nodes: r.nodes.filter((id) => id !== node) })));
      changed.push(coll);
    }
    return changed;
  }
}
