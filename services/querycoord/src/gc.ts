import type { Logger } from '@kite/common';
import type { MetaStore } from '@kite/metastore';
import type { ObjectStore } from '@kite/objectstore';
import { codecs, idAfter, keys, type CompactionPlanRecord, type SegmentMeta } from '@kite/segment';
import { counter } from '@kite/observe';
import { within } from './deadline';
import { answering, type DistSnapshot, type NodeStateName } from './distribution';

const filesCollected = counter('kite_querycoord_gc_files_total', 'object-store files garbage collection removed (compaction sources)');
const bytesCollected = counter('kite_querycoord_gc_bytes_total', 'bytes of the object-store files garbage collection removed');
const recordsCollected = counter('kite_querycoord_gc_records_total', 'meta records garbage collection removed, by kind (plan, compaction)', ['kind']);
const segmentsCollected = counter('kite_querycoord_gc_segments_total', 'compaction source segments whose files garbage collection removed');

/** The object-store prefix that holds every file of a segment (data, delete log, indexes; see the data node). */
export const segmentPrefix = (collectionID: number, segmentID: number): string => `collections/${collectionID}/segments/${segmentID}/`;

/** The object keys a segment record references. */
export function filesOf(s: SegmentMeta): string[] {
  return [s.dataKey, s.deltaKey, ...s.indexes.map((i) => i.key)].filter((k) => k !== '');
}

/** What a pass knows of one collection when it decides about a source segment. */
export interface Liveness {
  /** The collection's live segment records (meta/segment/<collection>/), read in this pass. */
  live: ReadonlyMap<number, SegmentMeta>;
  /** Segments of the collection some query node reports loaded. */
  served: ReadonlySet<number>;
}

export type SourceVerdict =
  /** The segment is live (its record exists): not garbage (a failed or no-op plan leaves its sources). */
  | 'live'
  /** Not live, but a query node still serves it, or a live record names a file under its prefix: wait. */
  | 'referenced'
  /** Nothing refers to it: its files may go. */
  | 'garbage';

/**
 * Whether a compaction source segment's files may be removed: never while its record is live, while a query node
 * serves it, or while any live segment record names a file under its prefix (results are written under their own
 * ids, so this is a guard against a layout change rather than a case that happens).
 */
export function sourceVerdict(collectionID: number, segmentID: number, l: Liveness): SourceVerdict {
  if (l.live.has(segmentID)) return 'live';
  if (l.served.has(segmentID)) return 'referenced';
  const prefix = segmentPrefix(collectionID, segmentID);
  for (const s of l.live.values()) if (filesOf(s).some((k) => k.startsWith(prefix))) return 'referenced';
  return 'garbage';
}

/**
 * Whether the distribution snapshot shows everything every query node serves: each query node with a session has
 * answered a pull (a joining or suspect node may still hold segments nobody can see).
 */
export function distributionKnown(snap: DistSnapshot, members: readonly { id: number; state: NodeStateName }[]): boolean {
  return members.every((m) => m.state === 'gone' || answering(snap.nodes.get(m.id)));
}

/** Segments of a collection that some answering query node reports loaded. */
export function servedSegments(snap: DistSnapshot, collectionID: number): Set<number> {
  const out = new Set<number>();
  for (const n of snap.nodes.values()) {
    if (n.role !== 'querynode' || n.state === 'gone') continue;
    for (const s of n.dist?.segments ?? []) if (s.collection_id === collectionID) out.add(s.segment_id);
  }
  return out;
}

export interface GcDeps {
  store: MetaStore;
  objects: ObjectStore;
  root: string;
  metaTimeoutMs: number;
  snapshot(): DistSnapshot;
  queryNodes(): { id: number; state: NodeStateName }[];
  log: Logger;
  now?: () => number;
}

export interface GcPassResult {
  segments: number;
  files: number;
  bytes: number;
  records: number;
  /** Plans past the grace period left for a later pass (a source still served, or the distribution unknown). */
  waiting: number;
}

/**
 * Garbage collection of compaction's sources, in the active coordinator. The list of work is the meta store's, not
 * memory: completed and failed plan records name their sources, so a restarted or newly active coordinator picks
 * up where the last one stopped, and every step is idempotent (removing removed files or records is a no-op).
 * A plan is handled once `gcGraceSeconds` have passed since it completed and the distribution shows every query
 * node and none of them serving a source; its sources' files go first, its record after, and the compaction's
 * record when it has no plans left. Dropped collections' files are removed by DropCollection itself.
 */
export class GarbageCollector {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<GcPassResult> | undefined;
  private stopped = false;

  constructor(
    private readonly cfg: { gcGraceSeconds: number; gcIntervalSeconds: number },
    private readonly d: GcDeps,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.pass().catch((e: unknown) => this.d.log.warn({ err: String(e) }, 'garbage collection pass failed; retrying on the next one')), this.cfg.gcIntervalSeconds * 1000);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  private meta<T>(p: Promise<T>, what: string): Promise<T> {
    return within(p, this.d.metaTimeoutMs, `meta store ${what}`);
  }

  /** One pass (a pass already running is joined, not doubled). */
  pass(): Promise<GcPassResult> {
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  private async run(): Promise<GcPassResult> {
    const out: GcPassResult = { segments: 0, files: 0, bytes: 0, records: 0, waiting: 0 };
    if (this.stopped) return out;
    const now = (this.d.now ?? Date.now)();
    const graceMs = this.cfg.gcGraceSeconds * 1000;
    const res = await this.meta(this.d.store.getPrefix(keys.compactionPlans(this.d.root)), 'list compaction plans');
    const plans = res.kvs.map((kv) => ({ kv, p: codecs.compactionPlan.decode(kv.value, kv.key) }));
    const due = plans.filter(({ p }) => p.state !== 'executing' && now - p.updatedAt >= graceMs);
    const liveness = new Map<number, Liveness>();
    const snap = this.d.snapshot();
    const known = distributionKnown(snap, this.d.queryNodes());
    for (const { kv, p } of due) {
      // The snapshot must be younger than the grace period's end, so it shows what happened in it (releases).
      const settled = known && snap.startedAt >= p.updatedAt + graceMs;
      if (this.stopped) break;
      let l = liveness.get(p.collectionID);
      if (!l) {
        const segs = await this.meta(this.d.store.getPrefix(keys.segments(this.d.root, p.collectionID)), 'list segments');
        const live = new Map<number, SegmentMeta>();
        for (const s of segs.kvs) {
          const seg = codecs.segment.decode(s.value, s.key);
          live.set(seg.segmentID, seg);
        }
        liveness.set(p.collectionID, (l = { live, served: servedSegments(snap, p.collectionID) }));
      }
      const verdicts = p.sources.map((id) => ({ id, v: sourceVerdict(p.collectionID, id, l) }));
      if (verdicts.some((x) => x.v === 'referenced') || (!settled && verdicts.some((x) => x.v === 'garbage'))) {
        out.waiting++;
        continue;
      }
      for (const { id, v } of verdicts) if (v === 'garbage') await this.removeFiles(p, id, out);
      await this.removePlan(kv.key, kv.modRevision, p, out);
    }
    await this.removeEmptyCompactions(now, graceMs, out);
    if (out.files || out.records) this.d.log.info({ ...out }, 'garbage collected');
    return out;
  }

  private async removeFiles(p: CompactionPlanRecord, segmentID: number, out: GcPassResult): Promise<void> {
    const prefix = segmentPrefix(p.collectionID, segmentID);
    const files = await this.d.objects.list(prefix);
    for (const f of files) {
      await this.d.objects.delete(f.key);
      out.files++;
      out.bytes += f.size;
      filesCollected.inc();
      bytesCollected.inc(f.size);
    }
    // Anything listed between the listing and here (nothing writes under a source's prefix) goes too.
    await this.d.objects.deletePrefix(prefix);
    if (files.length) {
      out.segments++;
      segmentsCollected.inc();
    }
    this.d.log.debug({ collection: p.collectionID, segment: segmentID, plan: p.planID, files: files.length }, 'compaction source collected');
  }

  private async removePlan(key: string, modRevision: number, p: CompactionPlanRecord, out: GcPassResult): Promise<void> {
    const r = await this.meta(this.d.store.txn([{ key, target: 'modRevision', op: '==', value: modRevision }], [{ type: 'delete', key }]), `delete ${key}`);
    if (r.succeeded) {
      out.records++;
      recordsCollected.inc({ kind: 'plan' });
    } else this.d.log.warn({ plan: p.planID }, 'compaction plan record changed while collected; looked at again on the next pass');
  }

  /** Compaction records past the grace period with no plan record left (all collected, or none planned). */
  private async removeEmptyCompactions(now: number, graceMs: number, out: GcPassResult): Promise<void> {
    const prefix = keys.compactions(this.d.root);
    const res = await this.meta(this.d.store.getPrefix(prefix), 'list compactions');
    for (const kv of res.kvs) {
      const c = codecs.compaction.decode(kv.value, kv.key);
      if (now - c.createdAt < graceMs) continue;
      const id = idAfter(prefix, kv.key);
      // Plans are written with their compaction (one transaction), so none left means none to come.
      const left = await this.meta(this.d.store.getPrefix(keys.compactionPlans(this.d.root, id)), 'list compaction plans');
      if (left.kvs.length) continue;
      const r = await this.meta(this.d.store.txn([{ key: kv.key, target: 'modRevision', op: '==', value: kv.modRevision }], [{ type: 'delete', key: kv.key }]), `delete ${kv.key}`);
      if (r.succeeded) {
        out.records++;
        recordsCollected.inc({ kind: 'compaction' });
      }
    }
  }
}
