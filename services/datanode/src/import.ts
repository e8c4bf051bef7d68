import { KiteError, clip, shardOf, toKiteError } from '@kite/common';
import {
  channelsOf, codecs, concatBatches, encodeBatch, fieldStatsOf, importDone, keys, pkAt, takeBatch, tsRange, PARTITION, PK,
  type Column, type ColumnBatch, type ImportTaskRecord, type SegmentMeta,
} from '@kite/segment';
import { counter, histogram } from '@kite/observe';
import type { SegmentWriterHost } from './compactor';
import { rowsToBatch, type FileRow } from './import-rows';

const tasksRun = counter('kite_datanode_import_tasks_total', 'bulk import task runs on a data node, by outcome (completed, failed, superseded)', ['outcome']);
const rowsImported = counter('kite_datanode_rows_imported_total', 'rows written by bulk import tasks that completed', []);
const taskDuration = histogram('kite_datanode_import_duration_seconds', 'one bulk import task run: read, check, write, index, commit', [], [0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600]);

/** Rows converted and checked at a time (a chunk of a file). */
const CHUNK_ROWS = 20000;

/** What an import run needs of its data node. */
export interface ImportHost extends SegmentWriterHost {
  allocTimestamp(): Promise<bigint>;
  readonly segmentMaxRows: number;
}

interface ParquetApi {
  parquetMetadata(buf: ArrayBuffer): { num_rows: bigint | number };
  parquetReadObjects(o: { file: ArrayBuffer; metadata?: unknown; rowStart?: number; rowEnd?: number }): Promise<FileRow[]>;
}

let parquetApi: Promise<ParquetApi> | undefined;

/**
 * hyparquet (a dependency-free Parquet reader, maintained, reads the nested LIST columns pyarrow writes and snappy
 * pages natively) ships as an ES module only; this CommonJS build loads it with a real dynamic import (TypeScript
 * would turn `import()` into `require()`).
 */
function parquet(): Promise<ParquetApi> {
  parquetApi ??= (new Function('m', 'return import(m)') as (m: string) => Promise<ParquetApi>)('hyparquet');
  return parquetApi;
}

/** A file's rows, a chunk at a time, with the row number (in the file) of each chunk's first row. */
async function* fileChunks(key: string, buf: Buffer): AsyncGenerator<{ first: number; rows: FileRow[]; total: number }> {
  const lower = key.toLowerCase();
  if (lower.endsWith('.json')) {
    let doc: unknown;
    try {
      doc = JSON.parse(buf.toString('utf8')) as unknown;
    } catch (e) {
      throw new KiteError('ParameterInvalid', `import file "${clip(key, 200)}" is not valid JSON: ${clip(String((e as Error).message), 200)}`);
    }
    const rows = doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? (doc as { rows?: unknown }).rows : undefined;
    if (!Array.isArray(rows)) throw new KiteError('ParameterInvalid', `import file "${clip(key, 200)}" must hold a JSON object {"rows": [...]}, as pymilvus's BulkWriter writes it`);
    for (let i = 0; i < rows.length; i += CHUNK_ROWS) yield { first: i, rows: rows.slice(i, i + CHUNK_ROWS) as FileRow[], total: rows.length };
    return;
  }
  if (lower.endsWith('.parquet')) {
    const api = await parquet();
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
    let metadata: { num_rows: bigint | number };
    try {
      metadata = api.parquetMetadata(ab);
    } catch (e) {
      throw new KiteError('ParameterInvalid', `import file "${clip(key, 200)}" is not a Parquet file: ${clip(String((e as Error).message), 200)}`);
    }
    const total = Number(metadata.num_rows);
    for (let i = 0; i < total; i += CHUNK_ROWS) {
      let rows: FileRow[];
      try {
        rows = await api.parquetReadObjects({ file: ab, metadata, rowStart: i, rowEnd: Math.min(total, i + CHUNK_ROWS) });
      } catch (e) {
        throw new KiteError('ParameterInvalid', `import file "${clip(key, 200)}": rows ${i}.. could not be read as Parquet: ${clip(String((e as Error).message), 200)}`);
      }
      yield { first: i, rows, total };
    }
    return;
  }
  throw new KiteError('ParameterInvalid', `import file "${clip(key, 200)}" is neither .json nor .parquet: bulk import reads the JSON and Parquet files of pymilvus's BulkWriter`);
}

/** The run gave way to another run of the same task (or the task was dropped): it stops and writes nothing more. */
class Superseded extends Error {}

/**
 * Runs one import task: reads every file, checks and converts its rows (import-rows.ts), splits them by shard (the
 * primary key's hash, as Insert does) into segments of at most `segmentMaxRows`, writes their columns and indexes,
 * then records every segment and marks the task Completed in one transaction guarded by the task's revision. The
 * segments carry no WAL offsets (0..0) and one timestamp taken when the run started: deletes issued after it hit
 * their rows, as they would hit inserted rows. A bad row fails the task naming file, row and field; the files
 * written are removed and nothing is recorded. A second run of the same task (the coordinator sent it again after
 * this node seemed gone) bumps the task's revision, so the first one's next write fails and it stops.
 */
export async function runImport(h: ImportHost, taskID: number): Promise<ImportTaskRecord | undefined> {
  const key = keys.importTask(h.root, taskID);
  const kv = await h.store.get(key);
  if (!kv) return undefined;
  let task = codecs.importTask.decode(kv.value, kv.key);
  if (importDone(task)) return task;
  let rev = kv.modRevision;
  const endTimer = taskDuration.startTimer();
  const written: string[] = [];

  /** Writes the task guarded by the revision this run last wrote; a lost race means another run owns it. */
  const save = async (next: ImportTaskRecord): Promise<void> => {
    const res = await h.store.txn([{ key, target: 'modRevision', op: '==', value: rev }], [{ type: 'put', key, value: codecs.importTask.encode(next) }]);
    if (!res.succeeded) throw new Superseded(`import task ${taskID} changed while this run held it`);
    const now = await h.store.get(key);
    if (!now) throw new Superseded(`import task ${taskID} was removed`);
    rev = now.modRevision;
    task = next;
  };
  const cleanup = async (): Promise<void> => {
    for (const p of written) await h.objects.deletePrefix(p).catch(() => 0);
  };

  try {
    await save({ ...task, state: 'Started', attempts: task.attempts + 1, rowCount: 0, progress: 0, reason: '', idRanges: [], updatedAt: Date.now() });
    h.log.info({ task: taskID, collection: task.collectionName, files: task.files, attempt: task.attempts }, 'import task started');
    const c = h.collection(task.collectionID);
    if (!c) {
      if (await h.store.get(keys.collection(h.root, task.collectionID))) {
        throw new KiteError('ServiceNotReady', `data node does not know collection ${task.collectionID} yet; import task ${taskID} is retried`, { retriable: true });
      }
      throw new KiteError('CollectionNotFound', `collection ${task.collectionName} was dropped during the import`);
    }
    let partitionID = 0;
    if (!c.fields.some((f) => f.isPartitionKey)) {
      const name = task.partitionName || '_default';
      const p = c.partitions.find((x) => x.name === name);
      if (!p) throw new KiteError('PartitionNotFound', `partition ${name} of collection ${c.name} does not exist (dropped during the import?)`);
      partitionID = p.partitionID;
    }
    const ts = await h.allocTimestamp();
    const channels = channelsOf(c);
    const pending: ColumnBatch[][] = channels.map(() => []);
    const pendingRows = channels.map(() => 0);
    const segments: SegmentMeta[] = [];
    const ids: number[] = [];
    let rows = 0;

    const writeSegment = async (shard: number): Promise<void> => {
      const parts = pending[shard]!;
      if (parts.length === 0) return;
      const data = parts.length === 1 ? parts[0]! : concatBatches(parts);
      pending[shard] = [];
      pendingRows[shard] = 0;
      const segID = await h.allocIds(1);
      const prefix = `collections/${c.collectionID}/segments/${segID}`;
      written.push(`${prefix}/`);
      await h.objects.put(`${prefix}/data.kcb`, encodeBatch(data));
      const indexes = await h.buildIndexes(c, segID, data);
      const range = tsRange(data);
      const partitionIDs = [...new Set(Array.from((data.columns.get(PARTITION) as Extract<Column, { kind: 'int64' }>).data, Number))].sort((a, b) => a - b);
      segments.push({
        segmentID: segID, collectionID: c.collectionID, channel: channels[shard]!, startOffset: 0, endOffset: 0, numRows: data.numRows,
        dataKey: `${prefix}/data.kcb`, deltaKey: '', numDeletes: 0, indexes, maxTs: range.maxTs.toString(), minTs: range.minTs.toString(),
        partitionIDs, fieldStats: fieldStatsOf(c, data), createdAt: Date.now(), importTaskID: taskID,
      });
    };

    for (let fi = 0; fi < task.files.length; fi++) {
      const file = task.files[fi]!;
      let buf: Buffer;
      try {
        buf = await h.objects.get(file);
      } catch (e) {
        const err = toKiteError(e);
        if (err.retriable) throw err;
        throw new KiteError('ParameterInvalid', `import file "${clip(file, 200)}" cannot be read from the object store: ${err.message}`);
      }
      for await (const chunk of fileChunks(file, buf)) {
        const batch = await rowsToBatch(chunk.rows, { collection: c, file, firstRow: chunk.first, partitionID, ts, allocIds: h.allocIds }, ids);
        const pk = batch.columns.get(PK)!;
        const groups: number[][] = channels.map(() => []);
        for (let i = 0; i < batch.numRows; i++) groups[shardOf(pkAt(pk, i), channels.length)]!.push(i);
        for (let s = 0; s < channels.length; s++) {
          let idx = groups[s]!;
          while (idx.length > 0) {
            const room = h.segmentMaxRows - pendingRows[s]!;
            const take = idx.length <= room ? idx : idx.slice(0, room);
            idx = idx.length <= room ? [] : idx.slice(room);
            pending[s]!.push(take.length === batch.numRows ? batch : takeBatch(batch, take));
            pendingRows[s]! += take.length;
            if (pendingRows[s]! >= h.segmentMaxRows) await writeSegment(s);
          }
        }
        rows += batch.numRows;
        const done = (fi + (chunk.first + chunk.rows.length) / Math.max(1, chunk.total)) / task.files.length;
        await save({ ...task, rowCount: rows, progress: Math.min(90, Math.floor(done * 90)), idRanges: [...ids], updatedAt: Date.now() });
      }
    }
    for (let s = 0; s < channels.length; s++) await writeSegment(s);
    await save({ ...task, state: 'Persisted', rowCount: rows, progress: 95, idRanges: [...ids], updatedAt: Date.now() });
    const finished: ImportTaskRecord = { ...task, state: 'Completed', progress: 100, segmentIDs: segments.map((s) => s.segmentID), updatedAt: Date.now() };
    const collKey = keys.collection(h.root, c.collectionID);
    const res = await h.store.txn(
      // Guarded by the collection too: a collection dropped meanwhile gets no segment records.
      [{ key, target: 'modRevision', op: '==', value: rev }, { key: collKey, target: 'version', op: '>', value: 0 }],
      [
        ...segments.map((s) => ({ type: 'put' as const, key: keys.segment(h.root, s.collectionID, s.segmentID), value: codecs.segment.encode(s) })),
        { type: 'put', key, value: codecs.importTask.encode(finished) },
      ],
    );
    if (!res.succeeded) {
      if (!(await h.store.get(collKey))) throw new KiteError('CollectionNotFound', `collection ${task.collectionName} was dropped during the import`);
      throw new Superseded(`import task ${taskID} changed before its segments were recorded`);
    }
    tasksRun.inc({ outcome: 'completed' });
    rowsImported.inc(rows);
    endTimer();
    h.log.info({ task: taskID, collection: c.name, rows, segments: finished.segmentIDs }, 'import task completed');
    return finished;
  } catch (e) {
    await cleanup();
    if (e instanceof Superseded) {
      tasksRun.inc({ outcome: 'superseded' });
      h.log.warn({ task: taskID, reason: e.message }, 'import run stopped: another run holds the task');
      return undefined;
    }
    const err = toKiteError(e);
    if (err.retriable) throw err;
    // A bad file or row: the task fails for good, with the reason for GetImportState.
    const failed: ImportTaskRecord = { ...task, state: 'Failed', reason: err.message, progress: task.progress, segmentIDs: [], updatedAt: Date.now() };
    await h.store.txn([{ key, target: 'modRevision', op: '==', value: rev }], [{ type: 'put', key, value: codecs.importTask.encode(failed) }]);
    tasksRun.inc({ outcome: 'failed' });
    h.log.warn({ task: taskID, reason: err.message }, 'import task failed');
    return failed;
  }
}
