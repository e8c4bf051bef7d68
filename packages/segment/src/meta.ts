/**
 * Kite's metadata records, as kept (JSON) in the meta store. The coordinator writes collections; data nodes write
 * segments and channel checkpoints; everyone reads them.
 */

import type { DefaultValue } from './nullable';

export type DataTypeName =
  | 'Bool'
  | 'Int8'
  | 'Int16'
  | 'Int32'
  | 'Int64'
  | 'Float'
  | 'Double'
  | 'VarChar'
  | 'JSON'
  | 'Array'
  | 'FloatVector'
  | 'Float16Vector'
  | 'BFloat16Vector'
  | 'BinaryVector'
  | 'Int8Vector'
  | 'SparseFloatVector';

export const SCALAR_TYPES: readonly DataTypeName[] = ['Bool', 'Int8', 'Int16', 'Int32', 'Int64', 'Float', 'Double', 'VarChar', 'JSON'];

export interface FieldMeta {
  fieldID: number;
  name: string;
  dataType: DataTypeName;
  isPrimaryKey: boolean;
  autoID: boolean;
  description: string;
  /** dim for vectors, max_length for VarChar, as Milvus's type_params (string values). */
  typeParams: Record<string, string>;
  isDynamic: boolean;
  isPartitionKey: boolean;
  /** The field holds SQL NULLs (its columns carry validity); never on the primary key or vectors. */
  nullable: boolean;
  /** Filled into rows sent without a value for the field (see nullable.ts); absent = none. */
  defaultValue?: DefaultValue;
  /** Clustering compaction range-partitions a channel's sealed rows by this field (one per collection). */
  isClusteringKey?: boolean;
  /** Array fields: the elements' type (Bool, Int8..Int64, Float, Double, VarChar); typeParams hold max_capacity (and max_length for VarChar elements). */
  elementType?: DataTypeName;
}

export interface IndexMeta {
  indexID: number;
  indexName: string;
  fieldName: string;
  fieldID: number;
  /**
   * FLAT, IVF_FLAT, IVF_SQ8, IVF_PQ, HNSW, SPARSE_INVERTED_INDEX, SPARSE_WAND; on scalar fields INVERTED, STL_SORT,
   * TRIE, BITMAP (AUTOINDEX resolved at create time).
   */
  indexType: string;
  /** What the user asked for (AUTOINDEX shows as such in DescribeIndex). */
  requestedIndexType: string;
  /** '' for a scalar index (no metric). */
  metricType: 'L2' | 'IP' | 'COSINE' | 'BM25' | 'HAMMING' | 'JACCARD' | '';
  /** Build parameters (nlist, m, nbits, M, efConstruction) as strings, defaults filled in. */
  params: Record<string, string>;
  /**
   * The build parameters the user set, flattened (keys of the `params` JSON at top level) with string values, as
   * Milvus keeps them and DescribeIndex returns them. Absent on indexes created before Kite kept them.
   */
  userParams?: Record<string, string>;
  createdTs: string;
}

export interface PartitionMeta {
  partitionID: number;
  name: string;
  createdTs: string;
}

export interface LoadMeta {
  replicaNumber: number;
  /** Loaded partitions; an empty list with `all` means the whole collection. */
  partitionIDs: number[];
  all: boolean;
}

/** A collection function (Milvus's FunctionSchema): BM25 turns a VarChar field's text into a sparse vector. */
export interface FunctionMeta {
  name: string;
  id: number;
  description: string;
  type: 'BM25';
  inputFieldNames: string[];
  outputFieldNames: string[];
  params: Record<string, string>;
}

export interface CollectionMeta {
  collectionID: number;
  name: string;
  description: string;
  fields: FieldMeta[];
  enableDynamicField: boolean;
  shardsNum: number;
  /** WAL topic of the collection; channel i is `<topic>#i`. */
  topic: string;
  partitions: PartitionMeta[];
  indexes: IndexMeta[];
  consistencyLevel: string;
  properties: Record<string, string>;
  createdTs: string;
  load?: LoadMeta;
  /** The database the collection belongs to; absent (collections created before databases existed) = "default". */
  dbName?: string;
  /** Functions (BM25) computing output fields from input fields; absent = none. */
  functions?: FunctionMeta[];
  /** The timestamp of the last schema change (AddCollectionField); absent = createdTs. */
  schemaTs?: string;
  /** TruncateCollection: rows with a timestamp at or below this one are gone for every reader; absent = never. */
  truncatedTs?: string;
}

/** The database "default": always present, never stored unless its properties were altered. */
export const DEFAULT_DB = 'default';

/** The database a collection belongs to. */
export const dbOf = (c: Pick<CollectionMeta, 'dbName'>): string => c.dbName ?? DEFAULT_DB;

export interface SegmentIndexFile {
  fieldName: string;
  indexID: number;
  key: string;
  bytes: number;
}

export interface SegmentMeta {
  segmentID: number;
  collectionID: number;
  channel: string;
  /** WAL offsets covered: [startOffset, endOffset). Segments of a channel tile its offsets with no gaps. */
  startOffset: number;
  endOffset: number;
  numRows: number;
  /** Object key of the column data; empty when numRows is 0 (a segment of deletes only). */
  dataKey: string;
  /** Object key of the deletes consumed in this offset range (primary key + timestamp), or empty. */
  deltaKey: string;
  numDeletes: number;
  indexes: SegmentIndexFile[];
  /** Largest row timestamp. */
  maxTs: string;
  /** Smallest row timestamp (compaction estimates the share of rows the TTL has expired); absent on older segments. */
  minTs?: string;
  /** The partitions its rows belong to (distinct, ascending); absent on segments written before Kite kept them. */
  partitionIDs?: number[];
  createdAt: number;
  /**
   * Smallest and largest value of each numeric scalar field and of the clustering key (VarChar too), over the rows
   * that are not null; a field whose rows are all null has none. Query nodes skip a segment a filter on such a field
   * cannot match. Absent on segments written before Kite kept them (never skipped by it).
   */
  fieldStats?: Record<string, FieldRange>;
  /**
   * Set on a segment written by compaction: the segments it replaced (their rows minus those deleted or expired
   * as of `compaction.purgedUpTo`). Every result of one plan names the same sources and covers the same offsets.
   */
  compaction?: CompactionOrigin;
  /**
   * Set on a segment written by a bulk import (no WAL offsets: startOffset = endOffset = 0; its rows carry the
   * task's timestamp): the task. A replica serves a task's segments together, once all are loaded in it.
   */
  importTaskID?: number;
}

/** A field's value range in one segment: integers as decimal text (Int64 exact), floats as numbers, VarChar as text. */
export type FieldRange = { kind: 'int'; min: string; max: string } | { kind: 'float'; min: number; max: number } | { kind: 'string'; min: string; max: string };

export interface CompactionOrigin {
  compactionID: number;
  planID: number;
  /** The segments replaced, all of this channel; their offsets, together, are this segment's. */
  sources: number[];
  /** 'mix' (merge and purge) or 'clustering' (range partitioning by the clustering key). */
  type: 'mix' | 'clustering';
  /** Rows hidden (truncate, collection TTL) at or below this timestamp were dropped. */
  purgedUpTo: string;
  /**
   * Deletes consumed below this channel offset (every sealed delta log of the channel when the plan ran) were
   * applied: rows they delete were dropped. Deletes at or after it may still hit this segment's rows.
   */
  deltasUpTo: number;
  /** Clustering: this result's place among the plan's results, in key order (0-based), and how many there are. */
  part?: number;
  parts?: number;
}

export interface ChannelCheckpoint {
  channel: string;
  /** Next WAL offset to consume: everything before it is durable in object storage. */
  offset: number;
  ts: string;
}

export function pkField(c: CollectionMeta): FieldMeta {
  const f = c.fields.find((x) => x.isPrimaryKey);
  if (!f) throw new Error(`collection ${c.name} has no primary key field`);
  return f;
}

/** The dense vector types faiss indexes (half-precision vectors are widened to float32 for it). */
export const DENSE_TYPES: readonly DataTypeName[] = ['FloatVector', 'Float16Vector', 'BFloat16Vector', 'Int8Vector'];

export const isDenseType = (t: DataTypeName): boolean => DENSE_TYPES.includes(t);

/** The dense (FloatVector, Float16Vector, BFloat16Vector) fields: what faiss indexes. */
export function vectorFields(c: CollectionMeta): FieldMeta[] {
  return c.fields.filter((f) => isDenseType(f.dataType));
}

/** The BinaryVector fields (faiss binary indexes, HAMMING or JACCARD). */
export function binaryFields(c: CollectionMeta): FieldMeta[] {
  return c.fields.filter((f) => f.dataType === 'BinaryVector');
}

/** Every vector type (what `*` in output_fields leaves out of a query unless vectors are asked for). */
export const isVectorType = (t: DataTypeName): boolean => isDenseType(t) || t === 'BinaryVector' || t === 'SparseFloatVector';

/** The SparseFloatVector fields (inverted indexes, IP or BM25). */
export function sparseFields(c: CollectionMeta): FieldMeta[] {
  return c.fields.filter((f) => f.dataType === 'SparseFloatVector');
}

/** Every field a search can name as anns_field: dense and sparse vector fields. */
export function annFields(c: CollectionMeta): FieldMeta[] {
  return c.fields.filter((f) => isDenseType(f.dataType) || f.dataType === 'BinaryVector' || f.dataType === 'SparseFloatVector');
}

/** Bytes of one stored vector of a dense or binary field. */
export function vectorBytesOf(f: FieldMeta): number {
  const dim = dimOf(f);
  if (f.dataType === 'BinaryVector') return dim / 8;
  if (f.dataType === 'Int8Vector') return dim;
  return f.dataType === 'FloatVector' ? dim * 4 : dim * 2;
}

export function dimOf(f: FieldMeta): number {
  return Number(f.typeParams.dim ?? 0);
}

export function channelsOf(c: CollectionMeta): string[] {
  return Array.from({ length: c.shardsNum }, (_, i) => `${c.topic}#${i}`);
}
