import { KiteError, shardOf } from '@kite/common';
import { primaryKeyTerms } from '@kite/expr';
import type { IDsOut, LongArrayOut, MutationResult } from '@kite/proto';
import { beforeDeadline } from '@kite/rpc';
import { channelsOf, codecs, emptyColumn, encodeWalMsg, keys, pkAt, takeBatch, PK, TS, type CollectionMeta, type Column, type ColumnBatch } from '@kite/segment';
import { counter } from '@kite/observe';
import { parseChannel, type ChannelRef } from '@kite/wal';
import type { Handlers, ProxyCore } from './core';
import { idsOf, primaryField } from './output';
import { checkFilter, queryRows } from './read';
import { buildRows } from './rows';
import { prunePartitions, refuseManualPartitions } from './partition-key';
import { OK } from './status';
import { onWal } from './wal';

const rowsInserted = counter('kite_proxy_rows_inserted_total', 'rows acknowledged by Insert and Upsert', ['collection']);
const rowsDeleted = counter('kite_proxy_rows_deleted_total', 'rows deleted by Delete and Upsert', ['collection']);

/**
 * One WAL append bounded by the request's deadline. The WAL retries a broker that is restarting by itself (the
 * Kafka producer resends the same batch, so a retry never writes a row twice); the proxy only stops waiting at the
 * deadline. Either way the client gets a retriable error naming the channel and the cause; an append that
 * timed out may still land, as with any timed-out write.
 */
async function appendBefore(core: ProxyCore, ref: ChannelRef, value: Buffer, deadline: number): Promise<void> {
  await onWal(ref, beforeDeadline(core.wal.append(ref, [{ value }]), deadline, 'acknowledgement'));
}

/** Splits rows by shard and appends one message per channel; resolves once every append is durable. */
async function appendByShard(core: ProxyCore, c: CollectionMeta, batch: ColumnBatch, type: 'insert' | 'delete', ts: bigint, deadline: number): Promise<void> {
  const append = (part: ColumnBatch, shard: number): Promise<void> =>
    appendBefore(core, { topic: c.topic, partition: shard }, encodeWalMsg({ type, collectionID: c.collectionID, ts, batch: part }), deadline);
  if (batch.numRows === 0) return;
  // One shard takes every row: no key needs hashing.
  if (c.shardsNum === 1) return append(batch, 0);
  const pk = batch.columns.get(PK)!;
  const groups: number[][] = Array.from({ length: c.shardsNum }, () => []);
  for (let i = 0; i < batch.numRows; i++) groups[shardOf(pkAt(pk, i), c.shardsNum)]!.push(i);
  await Promise.all(groups.map(async (rows, shard) => {
    if (rows.length === 0) return;
    await append(rows.length === batch.numRows ? batch : takeBatch(batch, rows), shard);
  }));
}

const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The written keys for the answer. Int64 keys that a double holds exactly go as numbers, which the response encoder
 * turns into int64 far more cheaply than decimal strings (the same bytes on the wire); larger ones as strings.
 */
function writtenIds(pk: Column): IDsOut {
  if (pk.kind !== 'int64') return idsOf(pk);
  const out = new Array<number | string>(pk.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = pk.data[i]!;
    out[i] = v <= MAX_EXACT && v >= -MAX_EXACT ? Number(v) : v.toString();
  }
  return { int_id: { data: out } };
}

function mutation(pk: Column, n: number, ts: bigint, extra: Partial<Record<'insert_cnt' | 'delete_cnt' | 'upsert_cnt', number>>): MutationResult {
  return {
    status: OK, IDs: writtenIds(pk), succ_index: Array.from({ length: n }, (_, i) => i), err_index: [],
    acknowledged: true, insert_cnt: '0', delete_cnt: '0', upsert_cnt: '0', timestamp: ts.toString(),
    ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, String(v)])),
  };
}

/** Seals the collection's growing data: a flush message with timestamp `ts` on each of its channels. */
export async function flushCollection(core: ProxyCore, c: CollectionMeta, ts: bigint, deadline: number): Promise<void> {
  const value = encodeWalMsg({ type: 'flush', collectionID: c.collectionID, ts });
  await Promise.all(channelsOf(c).map((ch) => appendBefore(core, parseChannel(ch), value, deadline)));
}

/** Whether every channel of the collection is checkpointed at `ts` or later, or has nothing left to consume. */
export async function flushedSince(core: ProxyCore, c: CollectionMeta, ts: bigint): Promise<boolean> {
  for (const ch of channelsOf(c)) {
    const kv = await core.store.get(keys.checkpoint(core.cfg.common.rootPath, c.collectionID, ch));
    const cp = kv ? codecs.checkpoint.decode(kv.value, kv.key) : undefined;
    if (cp && BigInt(cp.ts) >= ts) continue;
    const end = await core.wal.endOffset(parseChannel(ch));
    if ((cp?.offset ?? 0) >= end) continue;
    return false;
  }
  return true;
}

/**
 * Insert, upsert and delete (written to the WAL with a timestamp from the proxy's cached ranges, see tso.ts, and
 * acknowledged once durable there), and flush with its state.
 */
export function writeHandlers(core: ProxyCore): Handlers {
  const flushTickets = new Map<string, { collectionID: number; ts: bigint }>();

  const flushedAt = (c: CollectionMeta, ts: bigint): Promise<boolean> => flushedSince(core, c, ts);

  return {
    async Insert(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      const ts = await core.tso.alloc(ctx.deadline);
      const batch = await buildRows(core, c, r, ts, false, ctx.deadline);
      await appendByShard(core, c, batch, 'insert', ts, ctx.deadline);
      rowsInserted.inc({ collection: c.name }, batch.numRows);
      return mutation(batch.columns.get(PK)!, batch.numRows, ts, { insert_cnt: batch.numRows });
    },

    async Upsert(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      const ts = await core.tso.alloc(ctx.deadline);
      const batch = await buildRows(core, c, r, ts, true, ctx.deadline);
      const pk = batch.columns.get(PK)!;
      const del: ColumnBatch = { numRows: batch.numRows, columns: new Map<string, Column>([[PK, pk], [TS, batch.columns.get(TS)!]]) };
      // Same timestamp: the delete removes older versions of these keys, never the rows written with it.
      await appendByShard(core, c, del, 'delete', ts, ctx.deadline);
      await appendByShard(core, c, batch, 'insert', ts, ctx.deadline);
      rowsInserted.inc({ collection: c.name }, batch.numRows);
      return mutation(pk, batch.numRows, ts, { upsert_cnt: batch.numRows });
    },

    async Delete(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      const text = r.expr ?? '';
      if (!text.trim()) throw new KiteError('ParameterInvalid', 'delete needs a filter expression, for example "id in [1, 2]"');
      refuseManualPartitions(c, r.partition_name);
      const { shipped, expr } = checkFilter(core, c, text, r.expr_template_values);
      const pkf = primaryField(c);
      const terms = r.partition_name || !expr ? undefined : primaryKeyTerms(expr);
      let pk: Column;
      if (terms) {
        pk = pkf.dataType === 'Int64' ? { kind: 'int64', data: BigInt64Array.from(terms.map((t) => BigInt(t))) } : { kind: 'string', data: terms.map(String) };
      } else {
        const parts = r.partition_name ? [core.partitionID(c, r.partition_name)] : prunePartitions(c, expr, []);
        const res = await queryRows(core, c, { filter: shipped, partitions: parts, level: 'Strong', deadline: ctx.deadline });
        pk = res.rows.columns.get(PK) ?? emptyColumn(pkf);
      }
      const n = pk.kind === 'int64' || pk.kind === 'string' ? pk.data.length : 0;
      const ts = await core.tso.alloc(ctx.deadline);
      if (n > 0) {
        const del: ColumnBatch = { numRows: n, columns: new Map<string, Column>([[PK, pk], [TS, { kind: 'int64', data: new BigInt64Array(n).fill(ts) }]]) };
        await appendByShard(core, c, del, 'delete', ts, ctx.deadline);
        rowsDeleted.inc({ collection: c.name }, n);
      }
      // pymilvus reports IDs instead of delete_count when IDs are set, so a delete answers with the count alone.
      return { ...mutation(pk, n, ts, { delete_cnt: n }), IDs: pkf.dataType === 'Int64' ? { int_id: { data: [] } } : { str_id: { data: [] } }, succ_index: [] };
    },

    async Flush(r, ctx) {
      const segIDs: Record<string, LongArrayOut> = {};
      const flushTs: Record<string, string> = {};
      const sealTimes: Record<string, string> = {};
      for (const name of r.collection_names ?? []) {
        const c = await core.collection(name, ctx);
        const ts = await core.tso.alloc(ctx.deadline);
        await flushCollection(core, c, ts, ctx.deadline);
        const ticket = ts.toString();
        flushTickets.set(ticket, { collectionID: c.collectionID, ts });
        segIDs[name] = { data: [ticket] };
        flushTs[name] = ticket;
        sealTimes[name] = String(Math.floor(Date.now() / 1000));
      }
      return { status: OK, db_name: ctx.db, coll_segIDs: segIDs, flush_coll_segIDs: {}, coll_seal_times: sealTimes, coll_flush_ts: flushTs, channel_cps: {} };
    },

    async GetFlushState(r, ctx) {
      const checks: { c: CollectionMeta; ts: bigint }[] = [];
      if (r.collection_name && Number(r.flush_ts) > 0) checks.push({ c: await core.collection(r.collection_name, ctx), ts: BigInt(r.flush_ts) });
      for (const id of r.segmentIDs ?? []) {
        const t = flushTickets.get(String(id));
        const c = t ? core.meta.byID(t.collectionID) : undefined;
        if (t && c) checks.push({ c, ts: t.ts });
      }
      for (const { c, ts } of checks) if (!(await flushedAt(c, ts))) return { status: OK, flushed: false };
      return { status: OK, flushed: true };
    },
  };
}
