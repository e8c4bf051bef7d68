/**
 * Bulk import tasks, kept (JSON) in the meta store under `keys.importTask` (layout.ts, with its codec). The proxy
 * records a task 'Pending' (Import); the coordinator sends it to a data node; the data node marks it 'Started',
 * reads and checks every row of its files, writes and indexes the segments ('Persisted'), then records the segments
 * and marks the task 'Completed' in one transaction guarded by the task's revision, so the segments appear together
 * or not at all. Any bad row, file or a lost task fails it ('Failed', with the reason) and no segment is recorded.
 * The states are Milvus's ImportState names (common.proto), which pymilvus's BulkInsertState reads.
 */
export type ImportTaskState = 'Pending' | 'Started' | 'Persisted' | 'Completed' | 'Failed';

export interface ImportTaskRecord {
  taskID: number;
  collectionID: number;
  /** As named in the request (for ListImportTasks and the infos). */
  collectionName: string;
  dbName: string;
  /** The partition named in the request ('' = the default one, or by partition key). */
  partitionName: string;
  /** Object store keys of the files, JSON (`{"rows": [...]}`) or Parquet, as pymilvus's BulkWriter writes them. */
  files: string[];
  state: ImportTaskState;
  /** Why the task failed (names the file, row and field of a bad row). */
  reason: string;
  /** Rows read so far; on completion, rows imported. */
  rowCount: number;
  /** 0-100. */
  progress: number;
  /** The segments recorded (on completion). */
  segmentIDs: number[];
  /** Auto ids assigned, as [first, last] pairs (inclusive), as Milvus's id_list. */
  idRanges: number[];
  /** Runs started (a data node that died mid-task leaves it to the next run). */
  attempts: number;
  /** Epoch ms. */
  createdAt: number;
  updatedAt: number;
}

/** Whether the task will not change any more. */
export const importDone = (t: Pick<ImportTaskRecord, 'state'>): boolean => t.state === 'Completed' || t.state === 'Failed';
