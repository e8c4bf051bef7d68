import { KiteError, clip } from '@kite/common';
import type { GetImportStateResponse, ImportState, KeyValuePair } from '@kite/proto';
import { codecs, dbOf, keys, type ImportTaskRecord } from '@kite/segment';
import type { Handlers, ProxyCore } from './core';
import { NO_MANUAL_PARTITIONS, partitionKeyField } from './partition-key';
import { OK } from './status';

/** Files one Import may name. */
const MAX_FILES = 1024;

const STATE: Record<ImportTaskRecord['state'], ImportState> = {
  Pending: 'ImportPending', Started: 'ImportStarted', Persisted: 'ImportPersisted', Completed: 'ImportCompleted', Failed: 'ImportFailed',
};

/** A task as GetImportState and ListImportTasks answer it (pymilvus's BulkInsertState reads these infos). */
function stateOf(t: ImportTaskRecord): GetImportStateResponse {
  const infos: KeyValuePair[] = [
    { key: 'files', value: t.files.join(',') },
    { key: 'collection', value: t.collectionName },
    { key: 'partition', value: t.partitionName },
    { key: 'failed_reason', value: t.reason },
    { key: 'progress_percent', value: String(t.progress) },
    { key: 'persist_cost', value: '' },
  ];
  return {
    status: OK, state: STATE[t.state], row_count: String(t.rowCount), id_list: t.idRanges.map(String), infos, id: String(t.taskID),
    collection_id: String(t.collectionID), segment_ids: t.segmentIDs.map(String), create_ts: String(Math.floor(t.createdAt / 1000)),
  };
}

/**
 * Import, GetImportState and ListImportTasks (pymilvus utility.do_bulk_insert, get_bulk_insert_state,
 * list_bulk_insert_tasks). Import checks the request and records a Pending task in the meta store; the coordinator
 * sends it to a data node, which reads the files from the object store (docs/architecture.md, "Bulk import"). The
 * state is read from the task's record.
 */
export function importHandlers(core: ProxyCore): Handlers {
  const root = core.cfg.common.rootPath;

  async function task(idText: unknown): Promise<ImportTaskRecord> {
    const id = Number(idText ?? 0);
    if (!Number.isSafeInteger(id) || id <= 0) throw new KiteError('ParameterInvalid', `task ${clip(String(idText), 40)} is not an import task id: pass the id Import returned`);
    const kv = await core.store.get(keys.importTask(root, id));
    if (!kv) throw new KiteError('ParameterInvalid', `import task ${id} not found: pass the id Import returned`);
    return codecs.importTask.decode(kv.value, kv.key);
  }

  return {
    async Import(r, ctx) {
      if (!r.collection_name) throw new KiteError('ParameterInvalid', 'Import needs collection_name: name the collection to import into');
      const c = await core.collection(r.collection_name, ctx);
      const files = r.files ?? [];
      if (files.length === 0) throw new KiteError('ParameterInvalid', 'Import needs files: list the object store paths of the JSON or Parquet files to import');
      if (files.length > MAX_FILES) throw new KiteError('ParameterInvalid', `Import names ${files.length} files; at most ${MAX_FILES} per task: split them into several imports`);
      for (const f of files) {
        if (typeof f !== 'string' || f.trim() === '') throw new KiteError('ParameterInvalid', 'Import files must be non-empty object store paths');
        if (!/\.(json|parquet)$/i.test(f)) {
          throw new KiteError('ParameterInvalid', `import file "${clip(f, 200)}" is neither .json nor .parquet: bulk import reads the JSON and Parquet files of pymilvus's BulkWriter`);
        }
      }
      if (c.functions?.length) {
        throw new KiteError('ParameterInvalid', `collection ${c.name} has function ${c.functions[0]!.name} (${c.functions[0]!.type}): bulk import does not compute function outputs yet; insert these rows with Insert`);
      }
      const unreadable = c.fields.find((f) => f.dataType === 'Float16Vector' || f.dataType === 'BFloat16Vector');
      if (unreadable) throw new KiteError('ParameterInvalid', `field "${unreadable.name}" is a ${unreadable.dataType}: bulk import does not read ${unreadable.dataType} fields yet; insert these rows with Insert`);
      const partition = r.partition_name ?? '';
      if (partition && partitionKeyField(c)) throw new KiteError('ParameterInvalid', NO_MANUAL_PARTITIONS);
      if (!partitionKeyField(c)) core.partitionID(c, partition || undefined);
      const id = Number((await core.coordinator.call(ctx.deadline, (qc, timeoutMs) => qc.AllocIds({ count: 1 }, { timeoutMs }))).start);
      const now = Date.now();
      const rec: ImportTaskRecord = {
        taskID: id, collectionID: c.collectionID, collectionName: c.name, dbName: dbOf(c), partitionName: partition, files: files.map((f) => f.replace(/^\/+/, '')),
        state: 'Pending', reason: '', rowCount: 0, progress: 0, segmentIDs: [], idRanges: [], attempts: 0, createdAt: now, updatedAt: now,
      };
      const key = keys.importTask(root, id);
      const res = await core.store.txn([{ key, target: 'version', op: '==', value: 0 }], [{ type: 'put', key, value: codecs.importTask.encode(rec) }]);
      if (!res.succeeded) throw new KiteError('MetaFailed', `import task id ${id} is taken; retry`, { retriable: true });
      return { status: OK, tasks: [String(id)] };
    },

    async GetImportState(r) {
      return stateOf(await task(r.task));
    },

    async ListImportTasks(r, ctx) {
      const res = await core.store.getPrefix(keys.importTasks(root));
      let tasks = res.kvs.map((kv) => codecs.importTask.decode(kv.value, kv.key));
      if (r.collection_name) {
        const c = await core.collection(r.collection_name, ctx);
        tasks = tasks.filter((t) => t.collectionID === c.collectionID);
      } else {
        tasks = tasks.filter((t) => t.dbName === ctx.db);
      }
      tasks.sort((a, b) => a.taskID - b.taskID);
      const limit = Number(r.limit ?? 0);
      if (Number.isSafeInteger(limit) && limit > 0) tasks = tasks.slice(-limit);
      return { status: OK, tasks: tasks.map(stateOf) };
    },
  };
}
