import { KiteError, type Logger } from '@kite/common';
import type { MetaStore } from '@kite/metastore';
import type { ObjectStore } from '@kite/objectstore';
import {
  pkAt,
  codecs, concatBatches, decodeBatch, encodeBatch, fieldStatsOf, hiddenUpTo, keys, PARTITION, PK, TS, takeBatch, tsRange,
  type CollectionMeta, type Column, type ColumnBatch, type CompactionPlanRecord, type SegmentIndexFile, type SegmentMeta,
} from '@kite/segment';
import { counter, histogram } from '@kite/observe';
import { chunkRows, rangePartition } from './partition';

const plansRun = counter('kite_datanode_compaction_plans_total', 'compaction plans a data node ran, by type and outcome (completed, failed, conflict)', ['type', 'outcome']);
const rowsPurged = counter('kite_datanode_compaction_rows_purged_total', 'rows compaction dropped, by reason (deleted, expired)', ['reason']);
const planDuration = histogram('kite_datanode_compaction_duration_seconds', 'running one compaction plan: read, filter, write, index, commit', ['type'], [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]);

/** What a job that writes new sealed segments (a compaction plan, an import task) needs of its data node. */
export interface SegmentWriterHost {
  readonly root: string;
  readonly store: MetaStore;
  readonly objects: ObjectStore;
  readonly log: Logger;
  collection(id: number): CollectionMeta | undefined;
  allocIds(count: number): Promise<number>;
  buildIndexes(c: CollectionMeta, segID: number, data: ColumnBatch): Promise<SegmentIndexFile[]>;
}

/** What the compactor needs of its data node. */
export interface CompactorHost extends SegmentWriterHost {
  readonly opts: { maxSegmentRows: number; clusteringSegmentRows: number };
}

/** The newest delete of each primary key in a set of delete logs. */
function deleteMap(batches: readonly ColumnBatch[]): Map<bigint | string, bigint> {
  const m = new Map<bigint | string, bigint>();
  for (const b of batches) {
    const pks = b.columns.get(PK);
    const ts = b.columns.get(TS) as Extract<Column, { kind: 'int64' }> | undefined;
    if (!pks || !ts) continue;
    for (let i = 0; i < b.numRows; i++) {
      const pk = pkAt(pks, i);
      const cur = m.get(pk);
      if (cur === undefined || ts.data[i]! > cur) m.set(pk, ts.data[i]!);
    }
  }
  return m;
}

/**
 * The rows of `data` that survive: not hidden at `cut` (truncate, TTL: timestamp at or below it) and not deleted
 * (a delete of the same primary key with a larger timestamp), as the query nodes decide visibility.
 */
export function survivors(data: ColumnBatch, deletes: ReadonlyMap<bigint | string, bigint>, cut: bigint | undefined): { rows: number[]; deleted: number; expired: number } {
  const ts = (data.columns.get(TS) as Extract<Column, { kind: 'int64' }>).data;
  const pks = data.columns.get(PK)!;
  const rows: number[] = [];
  let deleted = 0;
  let expired = 0;
  for (let i = 0; i < data.numRows; i++) {
    if (cut !== undefined && ts[i]! <= cut) {
      expired++;
      continue;
    }
    const pk = pkAt(pks, i);
    const d = deletes.get(pk);
    if (d !== undefined && ts[i]! < d) {
      deleted++;
      continue;
    }
    rows.push(i);
  }
  return { rows, deleted, expired };
}

/**
 * Runs one compaction plan: reads the sources and every delete log of the channel, drops deleted and hidden rows,
 * writes the result segments (columns, indexes, and one delete log holding every delete of the sources, since they
 * may hit rows of other segments), then, in one meta store transaction guarded by the revisions of the plan and of
 * every source record, deletes the sources' records, puts the results' and marks the plan completed. A crash
 * before the transaction leaves only unreferenced files (the plan stays executing and runs again); after it, the
 * swap is whole. A source record that changed meanwhile (an index build recorded its file) makes the transaction
 * fail: the plan is then run again from the start.
 */
export async function runPlan(h: CompactorHost, planKey: string): Promise<CompactionPlanRecord> {
  const kv = await h.store.get(planKey);
  if (!kv) throw new KiteError('ParameterInvalid', `compaction plan ${planKey} does not exist`);
  const plan = codecs.compactionPlan.decode(kv.value, kv.key);
  if (plan.state !== 'executing') return plan;
  const endTimer = planDuration.startTimer({ type: plan.type });
  h.log.info({ plan: plan.planID, compaction: plan.compactionID, type: plan.type, sources: plan.sources }, 'compaction plan started');
  const c = h.collection(plan.collectionID);
  const fail = async (reason: string): Promise<CompactionPlanRecord> => {
    const done: CompactionPlanRecord = { ...plan, state: 'failed', reason, updatedAt: Date.now() };
    await h.store.txn([{ key: planKey, target: 'modRevision', op: '==', value: kv.modRevision }], [{ type: 'put', key: planKey, value: codecs.compactionPlan.encode(done) }]);
    plansRun.inc({ type: plan.type, outcome: 'failed' });
    h.log.warn({ plan: plan.planID, compaction: plan.compactionID, reason }, 'compaction plan failed');
    return done;
  };
  if (!c) {
    // Not in this node's catalogue cache yet (just started, or the collection is new): retried, unless it is gone.
    if (await h.store.get(keys.collection(h.root, plan.collectionID))) {
      throw new KiteError('ServiceNotReady', `data node does not know collection ${plan.collectionID} yet; compaction plan ${plan.planID} is retried`, { retriable: true });
    }
    return fail(`collection ${plan.collectionID} no longer exists`);
  }
  const segPrefix = keys.segments(h.root, plan.collectionID);
  const all = await h.store.getPrefix(segPrefix);
  const byID = new Map<number, { seg: SegmentMeta; modRevision: number; key: string }>();
  for (const s of all.kvs) {
    const seg = codecs.segment.decode(s.value, s.key);
    if (seg.channel === plan.channel) byID.set(seg.segmentID, { seg, modRevision: s.modRevision, key: s.key });
  }
  const missing = plan.sources.filter((id) => !byID.has(id));
  if (missing.length) return fail(`source segment(s) ${missing.join(', ')} no longer exist (compacted or dropped by another plan)`);
  const sources = plan.sources.map((id) => byID.get(id)!);
  const start = Math.min(...sources.map((s) => s.seg.startOffset));
  const end = Math.max(...sources.map((s) => s.seg.endOffset));
  // Every delete log of the channel: a delete consumed after the sources may hide their rows too.
  const channelSegs = [...byID.values()].map((x) => x.seg);
  const deltasUpTo = Math.max(end, ...channelSegs.map((s) => s.endOffset));
  const deltaBatches: ColumnBatch[] = [];
  const sourceDeltas: ColumnBatch[] = [];
  for (const s of channelSegs) {
    if (!s.deltaKey) continue;
    const b = decodeBatch(await h.objects.get(s.deltaKey));
    deltaBatches.push(b);
    if (plan.sources.includes(s.segmentID)) sourceDeltas.push(b);
  }
  const deletes = deleteMap(deltaBatches);
  const cut = hiddenUpTo(c);
  const datas: ColumnBatch[] = [];
  for (const s of sources) if (s.seg.dataKey && s.seg.numRows > 0) datas.push(decodeBatch(await h.objects.get(s.seg.dataKey)));
  const data = datas.length ? concatBatches(datas) : undefined;
  const kept = data ? survivors(data, deletes, cut) : { rows: [], deleted: 0, expired: 0 };
  let pieces: number[][];
  if (!data || kept.rows.length === 0) pieces = [];
  else if (plan.type === 'clustering') {
    const keyField = c.fields.find((f) => f.isClusteringKey);
    if (!keyField) return fail(`collection ${c.name} has no clustering key field`);
    const col = data.columns.get(keyField.name);
    if (!col) return fail(`segment data lacks the clustering key column ${keyField.name}`);
    pieces = rangePartition(col, kept.rows, h.opts.clusteringSegmentRows);
  } else pieces = chunkRows(kept.rows, h.opts.maxSegmentRows);

  const count = Math.max(1, pieces.length);
  const firstID = await h.allocIds(count);
  const results: SegmentMeta[] = [];
  const written: string[] = [];
  const delta = sourceDeltas.length ? concatBatches(sourceDeltas) : undefined;
  const origin = (i: number): SegmentMeta['compaction'] => ({
    compactionID: plan.compactionID, planID: plan.planID, sources: [...plan.sources], type: plan.type,
    purgedUpTo: (cut ?? 0n).toString(), deltasUpTo, ...(plan.type === 'clustering' ? { part: i, parts: count } : {}),
  });
  for (let i = 0; i < count; i++) {
    const segID = firstID + i;
    const prefix = `collections/${plan.collectionID}/segments/${segID}`;
    written.push(`${prefix}/`);
    const rows = pieces[i];
    const part = rows && data ? takeBatch(data, rows) : undefined;
    if (part) await h.objects.put(`${prefix}/data.kcb`, encodeBatch(part));
    // The sources' deletes go with the first result: they may hit rows of other segments, which still need them.
    const withDelta = i === 0 && delta !== undefined;
    if (withDelta) await h.objects.put(`${prefix}/delta.kcb`, encodeBatch(delta));
    const indexes = part ? await h.buildIndexes(c, segID, part) : [];
    const ts = part ? tsRange(part) : { minTs: 0n, maxTs: 0n };
    const partitionIDs = part ? [...new Set(Array.from((part.columns.get(PARTITION) as Extract<Column, { kind: 'int64' }>).data, Number))].sort((a, b) => a - b) : [];
    results.push({
      segmentID: segID, collectionID: plan.collectionID, channel: plan.channel, startOffset: start, endOffset: end,
      numRows: part?.numRows ?? 0, dataKey: part ? `${prefix}/data.kcb` : '', deltaKey: withDelta ? `${prefix}/delta.kcb` : '',
      numDeletes: withDelta ? delta.numRows : 0, indexes, maxTs: ts.maxTs.toString(),
      ...(part ? { minTs: ts.minTs.toString(), partitionIDs, fieldStats: fieldStatsOf(c, part) } : {}),
      createdAt: Date.now(), compaction: origin(i),
    });
  }
  const done: CompactionPlanRecord = { ...plan, state: 'completed', results: results.map((r) => r.segmentID), updatedAt: Date.now() };
  const res = await h.store.txn(
    [{ key: planKey, target: 'modRevision', op: '==', value: kv.modRevision }, ...sources.map((s) => ({ key: s.key, target: 'modRevision' as const, op: '==' as const, value: s.modRevision }))],
    [
      ...sources.map((s) => ({ type: 'delete' as const, key: s.key })),
      ...results.map((r) => ({ type: 'put' as const, key: keys.segment(h.root, r.collectionID, r.segmentID), value: codecs.segment.encode(r) })),
      { type: 'put', key: planKey, value: codecs.compactionPlan.encode(done) },
    ],
  );
  if (!res.succeeded) {
    // The files written are referenced by nothing; removed at once here (a crash leaves them to garbage collection).
    for (const p of written) await h.objects.deletePrefix(p).catch(() => 0);
    plansRun.inc({ type: plan.type, outcome: 'conflict' });
    throw new KiteError('ServiceUnavailable', `compaction plan ${plan.planID}: a source segment record or the plan changed while it ran; it runs again`, { retriable: true });
  }
  rowsPurged.inc({ reason: 'deleted' }, kept.deleted);
  rowsPurged.inc({ reason: 'expired' }, kept.expired);
  plansRun.inc({ type: plan.type, outcome: 'completed' });
  endTimer();
  h.log.info({ plan: plan.planID, compaction: plan.compactionID, type: plan.type, sources: plan.sources, results: done.results, rows: kept.rows.length, deleted: kept.deleted, expired: kept.expired }, 'compaction plan completed');
  return done;
}
