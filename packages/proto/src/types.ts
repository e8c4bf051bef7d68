/**
 * Shapes of Milvus's public messages as Kite's services see them through @grpc/proto-loader with
 * MILVUS_LOADER_OPTIONS (keepCase, longs: String, enums: String, defaults, oneofs, arrays, bytes: Buffer).
 *
 * Two forms:
 * - Messages the server RECEIVES (requests, and what nests in them: FieldData, CollectionSchema, IDs, ...) have the
 *   decoded shape: every field present with its default; a singular message field is `null` when absent; int64 and
 *   uint64 are decimal strings; an enum is its value name, or the raw number when the value is not in Kite's .proto;
 *   bytes are Buffers; a oneof member is present only when set, and the oneof's name holds the set member's name;
 *   a proto3 `optional` field is present only when set, with `_<name>` holding its name.
 * - Messages the server SENDS (responses, and their `...Out` parts) have the input shape the serializer accepts:
 *   every field optional (absent = default), 64-bit integers as string or number, enums by name, bytes as
 *   Buffer/Uint8Array. Set at most one member of a oneof; discriminator properties are not needed.
 *
 * packages/proto/src/types.test.ts checks every interface here against the .proto files.
 */

// ---------------------------------------------------------------------------------------------------------------
// Scalars and enums

/** A decoded int64/uint64: decimal string (e.g. "0", "-3", "449923838128193537"). */
export type Int64 = string;
/** An int64/uint64 to send: decimal string or a number (exact only up to 2^53). */
export type Int64Like = string | number;

export const DATA_TYPES = {
  None: 0,
  Bool: 1,
  Int8: 2,
  Int16: 3,
  Int32: 4,
  Int64: 5,
  Float: 10,
  Double: 11,
  String: 20,
  VarChar: 21,
  Array: 22,
  JSON: 23,
  Geometry: 24,
  Text: 25,
  Timestamptz: 26,
  BinaryVector: 100,
  FloatVector: 101,
  Float16Vector: 102,
  BFloat16Vector: 103,
  SparseFloatVector: 104,
  Int8Vector: 105,
  ArrayOfVector: 106,
  ArrayOfStruct: 200,
  Struct: 201,
} as const;
/** schema.DataType value names. */
export type DataType = keyof typeof DATA_TYPES;

export const CONSISTENCY_LEVELS = { Strong: 0, Session: 1, Bounded: 2, Eventually: 3, Customized: 4 } as const;
export type ConsistencyLevel = keyof typeof CONSISTENCY_LEVELS;

export const DSL_TYPES = { Dsl: 0, BoolExprV1: 1 } as const;
export type DslType = keyof typeof DSL_TYPES;

export const INDEX_STATES = { IndexStateNone: 0, Unissued: 1, InProgress: 2, Finished: 3, Failed: 4, Retry: 5 } as const;
export type IndexState = keyof typeof INDEX_STATES;

export const LOAD_STATES = { LoadStateNotExist: 0, LoadStateNotLoad: 1, LoadStateLoading: 2, LoadStateLoaded: 3 } as const;
export type LoadState = keyof typeof LOAD_STATES;

export const SEGMENT_STATES = { SegmentStateNone: 0, NotExist: 1, Growing: 2, Sealed: 3, Flushed: 4, Flushing: 5, Dropped: 6, Importing: 7 } as const;
export type SegmentState = keyof typeof SEGMENT_STATES;

export const SEGMENT_LEVELS = { Legacy: 0, L0: 1, L1: 2, L2: 3 } as const;
export type SegmentLevel = keyof typeof SEGMENT_LEVELS;

export const COMPACTION_STATES = { UndefiedState: 0, Executing: 1, Completed: 2 } as const;
export type CompactionState = keyof typeof COMPACTION_STATES;

export const IMPORT_STATES = { ImportPending: 0, ImportFailed: 1, ImportStarted: 2, ImportPersisted: 5, ImportFlushed: 8, ImportCompleted: 6, ImportFailedAndCleaned: 7 } as const;
export type ImportState = keyof typeof IMPORT_STATES;

export const STATE_CODES = { Initializing: 0, Healthy: 1, Abnormal: 2, StandBy: 3, Stopping: 4 } as const;
export type StateCode = keyof typeof STATE_CODES;

export const SHOW_TYPES = { All: 0, InMemory: 1 } as const;
export type ShowType = keyof typeof SHOW_TYPES;

export const QUOTA_STATES = { Unknown: 0, ReadLimited: 2, WriteLimited: 3, DenyToRead: 4, DenyToWrite: 5, DenyToDDL: 6 } as const;
export type QuotaState = keyof typeof QUOTA_STATES;

export const FIELD_STATES = { FieldCreated: 0, FieldCreating: 1, FieldDropping: 2, FieldDropped: 3 } as const;
export type FieldState = keyof typeof FIELD_STATES;

export const FUNCTION_TYPES = { Unknown: 0, BM25: 1, TextEmbedding: 2, Rerank: 3 } as const;
export type FunctionType = keyof typeof FUNCTION_TYPES;

export const HIGHLIGHT_TYPES = { Lexical: 0, Semantic: 1 } as const;
export type HighlightType = keyof typeof HIGHLIGHT_TYPES;

export const PLACEHOLDER_TYPES = {
  None: 0,
  BinaryVector: 100,
  FloatVector: 101,
  Float16Vector: 102,
  BFloat16Vector: 103,
  SparseFloatVector: 104,
  Int8Vector: 105,
  Int64: 5,
  VarChar: 21,
  EmbListBinaryVector: 300,
  EmbListFloatVector: 301,
  EmbListFloat16Vector: 302,
  EmbListBFloat16Vector: 303,
  EmbListSparseFloatVector: 304,
  EmbListInt8Vector: 305,
} as const;
export type PlaceholderType = keyof typeof PLACEHOLDER_TYPES;

export const PARTIAL_UPDATE_OPS = { REPLACE: 0, ARRAY_APPEND: 1, ARRAY_REMOVE: 2 } as const;
export type PartialUpdateOp = keyof typeof PARTIAL_UPDATE_OPS;

/** Legacy common.ErrorCode (the subset in Kite's common.proto). */
export const ERROR_CODES = {
  Success: 0,
  UnexpectedError: 1,
  ConnectFailed: 2,
  PermissionDenied: 3,
  CollectionNotExists: 4,
  IllegalArgument: 5,
  IllegalDimension: 7,
  IllegalIndexType: 8,
  IllegalCollectionName: 9,
  IllegalTOPK: 10,
  IllegalRowRecord: 11,
  IllegalVectorID: 12,
  IllegalSearchResult: 13,
  MetaFailed: 15,
  BuildIndexError: 21,
  IllegalNLIST: 22,
  IllegalMetricType: 23,
  OutOfMemory: 24,
  IndexNotExist: 25,
  EmptyCollection: 26,
  CollectionNameNotFound: 28,
  NotShardLeader: 45,
  NoReplicaAvailable: 46,
  SegmentNotFound: 47,
  ForceDeny: 48,
  RateLimit: 49,
  NodeIDNotMatch: 50,
  UpsertAutoIDTrue: 51,
  InsufficientMemoryToLoad: 52,
  MemoryQuotaExhausted: 53,
  DiskQuotaExhausted: 54,
  TimeTickLongDelay: 55,
  NotReadyServe: 56,
  NotReadyCoordActivating: 57,
  SchemaMismatch: 62,
  DataCoordNA: 100,
  DDRequestRace: 1000,
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

/** common.MsgType value names in Kite's common.proto (a subset; others decode as numbers). */
export type MsgType =
  | 'Undefined' | 'CreateCollection' | 'DropCollection' | 'HasCollection' | 'DescribeCollection' | 'ShowCollections'
  | 'LoadCollection' | 'ReleaseCollection' | 'CreateAlias' | 'DropAlias' | 'AlterAlias' | 'AlterCollection'
  | 'DescribeAlias' | 'ListAliases' | 'CreatePartition' | 'DropPartition' | 'HasPartition' | 'ShowPartitions'
  | 'LoadPartitions' | 'ReleasePartitions' | 'CreateIndex' | 'DescribeIndex' | 'DropIndex' | 'Insert' | 'Delete'
  | 'Flush' | 'Upsert' | 'Search' | 'SearchResult' | 'GetIndexState' | 'GetIndexBuildProgress'
  | 'GetCollectionStatistics' | 'GetPartitionStatistics' | 'Retrieve' | 'RetrieveResult' | 'GetReplicas' | 'TimeTick'
  | 'Connect' | 'AllocTimestamp' | 'ListDatabases' | 'DescribeDatabase';

// ---------------------------------------------------------------------------------------------------------------
// common

/** Same shape in both directions. */
export interface KeyValuePair {
  key: string;
  value: string;
}

export interface ReplicateInfo {
  isReplicate: boolean;
  msgTimestamp: Int64;
  replicateID: string;
}

export interface MsgBase {
  msg_type: MsgType | number;
  msgID: Int64;
  timestamp: Int64;
  sourceID: Int64;
  targetID: Int64;
  properties: Record<string, string>;
  replicateInfo: ReplicateInfo | null;
}

/**
 * Every response's status. Success is the default (all fields absent). On failure set both `code` (Milvus merr
 * code, non-zero) and `error_code` (legacy, not 'Success'): the Node SDK checks only error_code, pymilvus both.
 */
export interface Status {
  error_code?: ErrorCode | number;
  reason?: string;
  code?: number;
  retriable?: boolean;
  detail?: string;
  extra_info?: Record<string, string>;
}

export interface KeyDataPair {
  key?: string;
  data?: Uint8Array;
}

export interface PlaceholderValue {
  tag: string;
  type: PlaceholderType | number;
  /** One entry per query; FloatVector: dim little-endian float32s. */
  values: Buffer[];
  element_level: boolean;
}

/** SearchRequest.placeholder_group, decoded with decodePlaceholderGroup(). */
export interface PlaceholderGroup {
  placeholders: PlaceholderValue[];
}

export interface ClientInfo {
  sdk_type: string;
  sdk_version: string;
  local_time: string;
  user: string;
  host: string;
  reserved: Record<string, string>;
}

export interface ServerInfo {
  build_tags?: string;
  build_time?: string;
  git_commit?: string;
  go_version?: string;
  deploy_mode?: string;
  reserved?: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------------------------
// schema: arrays (decoded / Out)

export interface BoolArray { data: boolean[] }
export interface IntArray { data: number[] }
export interface LongArray { data: Int64[] }
export interface FloatArray { data: number[] }
export interface DoubleArray { data: number[] }
export interface BytesArray { data: Buffer[] }
export interface StringArray { data: string[] }
export interface JSONArray { data: Buffer[] }
export interface GeometryArray { data: Buffer[] }
export interface TimestamptzArray { data: Int64[] }
export interface GeometryWktArray { data: string[] }

export interface ArrayArray {
  data: ScalarField[];
  element_type: DataType | number;
}

export interface BoolArrayOut { data?: boolean[] }
export interface IntArrayOut { data?: number[] }
export interface LongArrayOut { data?: Int64Like[] }
export interface FloatArrayOut { data?: number[] }
export interface DoubleArrayOut { data?: number[] }
export interface BytesArrayOut { data?: Uint8Array[] }
export interface StringArrayOut { data?: string[] }
/** One UTF-8 JSON document per row ("{}" for a row without dynamic keys: pymilvus parses every entry). */
export interface JSONArrayOut { data?: Uint8Array[] }
export interface GeometryArrayOut { data?: Uint8Array[] }
export interface TimestamptzArrayOut { data?: Int64Like[] }
export interface GeometryWktArrayOut { data?: string[] }

export interface ArrayArrayOut {
  data?: ScalarFieldOut[];
  element_type?: DataType | number;
}

export type ScalarDataKind =
  | 'bool_data' | 'int_data' | 'long_data' | 'float_data' | 'double_data' | 'string_data' | 'bytes_data'
  | 'array_data' | 'json_data' | 'geometry_data' | 'timestamptz_data' | 'geometry_wkt_data';

/** A scalar column (or one Array cell). `data` names the set member. */
export interface ScalarField {
  data?: ScalarDataKind;
  bool_data?: BoolArray;
  int_data?: IntArray;
  long_data?: LongArray;
  float_data?: FloatArray;
  double_data?: DoubleArray;
  string_data?: StringArray;
  bytes_data?: BytesArray;
  array_data?: ArrayArray;
  json_data?: JSONArray;
  geometry_data?: GeometryArray;
  timestamptz_data?: TimestamptzArray;
  geometry_wkt_data?: GeometryWktArray;
}

/** Set exactly one member, even for an empty column (`{ long_data: { data: [] } }`): pymilvus rejects a column whose kind is unset. */
export interface ScalarFieldOut {
  bool_data?: BoolArrayOut;
  int_data?: IntArrayOut;
  long_data?: LongArrayOut;
  float_data?: FloatArrayOut;
  double_data?: DoubleArrayOut;
  string_data?: StringArrayOut;
  bytes_data?: BytesArrayOut;
  array_data?: ArrayArrayOut;
  json_data?: JSONArrayOut;
  geometry_data?: GeometryArrayOut;
  timestamptz_data?: TimestamptzArrayOut;
  geometry_wkt_data?: GeometryWktArrayOut;
}

export interface SparseFloatArray {
  contents: Buffer[];
  dim: Int64;
}

export interface SparseFloatArrayOut {
  contents?: Uint8Array[];
  dim?: Int64Like;
}

export type VectorDataKind =
  | 'float_vector' | 'binary_vector' | 'float16_vector' | 'bfloat16_vector' | 'sparse_float_vector' | 'int8_vector'
  | 'vector_array';

/** A vector column: rows concatenated (float_vector.data has rows * dim values). */
export interface VectorField {
  dim: Int64;
  data?: VectorDataKind;
  float_vector?: FloatArray;
  binary_vector?: Buffer;
  float16_vector?: Buffer;
  bfloat16_vector?: Buffer;
  sparse_float_vector?: SparseFloatArray;
  int8_vector?: Buffer;
  vector_array?: VectorArray;
}

/** Always set `dim` (also for an empty column: pymilvus divides by it). */
export interface VectorFieldOut {
  dim?: Int64Like;
  float_vector?: FloatArrayOut;
  binary_vector?: Uint8Array;
  float16_vector?: Uint8Array;
  bfloat16_vector?: Uint8Array;
  sparse_float_vector?: SparseFloatArrayOut;
  int8_vector?: Uint8Array;
  vector_array?: VectorArrayOut;
}

export interface VectorArray {
  dim: Int64;
  data: VectorField[];
  element_type: DataType | number;
}

export interface VectorArrayOut {
  dim?: Int64Like;
  data?: VectorFieldOut[];
  element_type?: DataType | number;
}

export interface StructArrayField {
  fields: FieldData[];
}

export interface StructArrayFieldOut {
  fields?: FieldDataOut[];
}

/**
 * One column of an Insert/Upsert request. `field` names the set member. For a nullable field valid_data has one
 * flag per row and the data arrays hold values for the valid rows only (both SDKs compress on insert).
 */
export interface FieldData {
  type: DataType | number;
  field_name: string;
  field?: 'scalars' | 'vectors' | 'struct_arrays';
  scalars?: ScalarField;
  vectors?: VectorField;
  struct_arrays?: StructArrayField;
  field_id: Int64;
  /** True on the `$meta` JSON column that carries the dynamic fields. */
  is_dynamic: boolean;
  valid_data: boolean[];
}

/**
 * One column of a Query/Search result. Set `type` (pymilvus decodes by it). For nullable scalar columns send one
 * value per row (placeholders where invalid) plus valid_data; vectors hold valid rows only.
 */
export interface FieldDataOut {
  type?: DataType | number;
  field_name?: string;
  scalars?: ScalarFieldOut;
  vectors?: VectorFieldOut;
  struct_arrays?: StructArrayFieldOut;
  field_id?: Int64Like;
  is_dynamic?: boolean;
  valid_data?: boolean[];
}

/** Primary keys. `id_field` names the set member. */
export interface IDs {
  id_field?: 'int_id' | 'str_id';
  int_id?: LongArray;
  str_id?: StringArray;
}

export interface IDsOut {
  int_id?: LongArrayOut;
  str_id?: StringArrayOut;
}

// ---------------------------------------------------------------------------------------------------------------
// schema: collection schema (decoded / Out)

export type ValueKind =
  | 'bool_data' | 'int_data' | 'long_data' | 'float_data' | 'double_data' | 'string_data' | 'bytes_data'
  | 'timestamptz_data';

/** A field's default value. `data` names the set member. */
export interface ValueField {
  data?: ValueKind;
  bool_data?: boolean;
  int_data?: number;
  long_data?: Int64;
  float_data?: number;
  double_data?: number;
  string_data?: string;
  bytes_data?: Buffer;
  timestamptz_data?: Int64;
}

export interface ValueFieldOut {
  bool_data?: boolean;
  int_data?: number;
  long_data?: Int64Like;
  float_data?: number;
  double_data?: number;
  string_data?: string;
  bytes_data?: Uint8Array;
  timestamptz_data?: Int64Like;
}

export interface FieldSchema {
  fieldID: Int64;
  name: string;
  is_primary_key: boolean;
  description: string;
  data_type: DataType | number;
  /** dim, max_length, max_capacity, ... as strings. */
  type_params: KeyValuePair[];
  index_params: KeyValuePair[];
  autoID: boolean;
  state: FieldState | number;
  element_type: DataType | number;
  default_value: ValueField | null;
  is_dynamic: boolean;
  is_partition_key: boolean;
  is_clustering_key: boolean;
  nullable: boolean;
  is_function_output: boolean;
}

export interface FieldSchemaOut {
  fieldID?: Int64Like;
  name?: string;
  is_primary_key?: boolean;
  description?: string;
  data_type?: DataType | number;
  type_params?: KeyValuePair[];
  index_params?: KeyValuePair[];
  autoID?: boolean;
  state?: FieldState | number;
  element_type?: DataType | number;
  default_value?: ValueFieldOut | null;
  is_dynamic?: boolean;
  is_partition_key?: boolean;
  is_clustering_key?: boolean;
  nullable?: boolean;
  is_function_output?: boolean;
}

export interface FunctionSchema {
  name: string;
  id: Int64;
  description: string;
  type: FunctionType | number;
  input_field_names: string[];
  input_field_ids: Int64[];
  output_field_names: string[];
  output_field_ids: Int64[];
  params: KeyValuePair[];
}

/** A collection function as DescribeCollection returns it. */
export interface FunctionSchemaOut {
  name?: string;
  id?: Int64Like;
  description?: string;
  type?: FunctionType | number;
  input_field_names?: string[];
  input_field_ids?: Int64Like[];
  output_field_names?: string[];
  output_field_ids?: Int64Like[];
  params?: KeyValuePair[];
}

/** A search's reranking functions (Rerank functions with a `reranker` param: decay, rrf, weighted, model). */
export interface FunctionScore {
  functions: FunctionSchema[];
  params: KeyValuePair[];
}

/** Search result highlighting (not served: the proxy refuses it). */
export interface Highlighter {
  type: HighlightType | number;
  params: KeyValuePair[];
}

export interface StructArrayFieldSchema {
  fieldID: Int64;
  name: string;
  description: string;
  fields: FieldSchema[];
  type_params: KeyValuePair[];
}

/** CreateCollectionRequest.schema, decoded with decodeCollectionSchema(). */
export interface CollectionSchema {
  name: string;
  description: string;
  autoID: boolean;
  fields: FieldSchema[];
  enable_dynamic_field: boolean;
  properties: KeyValuePair[];
  functions: FunctionSchema[];
  dbName: string;
  struct_array_fields: StructArrayFieldSchema[];
  version: number;
  enable_namespace: boolean;
}

/** DescribeCollectionResponse.schema. List user fields only: never the hidden `$meta` dynamic field. */
export interface CollectionSchemaOut {
  name?: string;
  description?: string;
  autoID?: boolean;
  fields?: FieldSchemaOut[];
  enable_dynamic_field?: boolean;
  properties?: KeyValuePair[];
  /** Collection functions (BM25). */
  functions?: FunctionSchemaOut[];
  dbName?: string;
  version?: number;
  enable_namespace?: boolean;
}

export interface TemplateArrayValueArray {
  data: TemplateArrayValue[];
}

export interface TemplateArrayValue {
  data?: 'bool_data' | 'long_data' | 'double_data' | 'string_data' | 'array_data' | 'json_data';
  bool_data?: BoolArray;
  long_data?: LongArray;
  double_data?: DoubleArray;
  string_data?: StringArray;
  array_data?: TemplateArrayValueArray;
  json_data?: JSONArray;
}

/** A value bound to a `{name}` placeholder of a filter expression. `val` names the set member. */
export interface TemplateValue {
  val?: 'bool_val' | 'int64_val' | 'float_val' | 'string_val' | 'array_val';
  bool_val?: boolean;
  int64_val?: Int64;
  float_val?: number;
  string_val?: string;
  array_val?: TemplateArrayValue;
}

export interface FieldPartialUpdateOp {
  field_name: string;
  op: PartialUpdateOp | number;
}

export interface SearchIteratorV2Results {
  token?: string;
  last_bound?: number;
}

/**
 * Hits of all nq queries, flattened: query i owns topks[i] consecutive entries of ids, scores and every
 * fields_data column. Always send it on success, even with no hits (the Node SDK reads results.scores).
 */
export interface SearchResultData {
  num_queries?: Int64Like;
  top_k?: Int64Like;
  fields_data?: FieldDataOut[];
  scores?: number[];
  ids?: IDsOut | null;
  topks?: Int64Like[];
  /** The user's output fields after expanding `*`; names absent from fields_data are read from `$meta`. */
  output_fields?: string[];
  group_by_field_value?: FieldDataOut | null;
  all_search_count?: Int64Like;
  distances?: number[];
  search_iterator_v2_results?: SearchIteratorV2Results;
  recalls?: number[];
  /** pymilvus names each hit's key after this (default "id"). */
  primary_field_name?: string;
  element_indices?: LongArrayOut | null;
}

// ---------------------------------------------------------------------------------------------------------------
// milvus: shared responses

export interface BoolResponse {
  status?: Status | null;
  value?: boolean;
}

// ---- Collections ----

export interface CreateCollectionRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  /** A serialized CollectionSchema (decodeCollectionSchema()). */
  schema: Buffer;
  shards_num: number;
  consistency_level: ConsistencyLevel | number;
  properties: KeyValuePair[];
  num_partitions: Int64;
}

export interface DropCollectionRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
}

export interface HasCollectionRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  time_stamp: Int64;
}

export interface LoadCollectionRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  replica_number: number;
  resource_groups: string[];
  refresh: boolean;
  load_fields: string[];
  skip_load_dynamic_field: boolean;
  load_params: Record<string, string>;
}

export interface ReleaseCollectionRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
}

export interface DescribeCollectionRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  collectionID: Int64;
  time_stamp: Int64;
}

export interface DescribeCollectionResponse {
  status?: Status | null;
  schema?: CollectionSchemaOut | null;
  collectionID?: Int64Like;
  virtual_channel_names?: string[];
  physical_channel_names?: string[];
  created_timestamp?: Int64Like;
  created_utc_timestamp?: Int64Like;
  shards_num?: number;
  aliases?: string[];
  start_positions?: KeyDataPair[];
  consistency_level?: ConsistencyLevel | number;
  collection_name?: string;
  properties?: KeyValuePair[];
  db_name?: string;
  num_partitions?: Int64Like;
  db_id?: Int64Like;
  request_time?: Int64Like;
  /** Set both forms; the SDKs echo it as Insert/Upsert schema_timestamp. */
  update_timestamp?: Int64Like;
  update_timestamp_str?: string;
}

export interface GetCollectionStatisticsRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
}

export interface GetCollectionStatisticsResponse {
  status?: Status | null;
  /** [{ key: 'row_count', value: '<decimal>' }] */
  stats?: KeyValuePair[];
}

export interface ShowCollectionsRequest {
  base: MsgBase | null;
  db_name: string;
  time_stamp: Int64;
  type: ShowType | number;
  collection_names: string[];
}

export interface ShowCollectionsResponse {
  status?: Status | null;
  collection_names?: string[];
  collection_ids?: Int64Like[];
  created_timestamps?: Int64Like[];
  created_utc_timestamps?: Int64Like[];
  /** Parallel to collection_names; the Node SDK reads it (loadedPercentage). */
  inMemory_percentages?: Int64Like[];
  query_service_available?: boolean[];
  shards_num?: number[];
}

export interface AlterCollectionFieldRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  field_name: string;
  properties: KeyValuePair[];
  delete_keys: string[];
}

export interface AddCollectionFieldRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  collectionID: Int64;
  schema: Buffer;
}

export interface RenameCollectionRequest {
  base: MsgBase | null;
  db_name: string;
  oldName: string;
  newName: string;
  newDBName: string;
}

export interface TruncateCollectionRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
}

export interface TruncateCollectionResponse {
  status: Status | null;
}

export interface AlterCollectionRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  collectionID: Int64;
  properties: KeyValuePair[];
  delete_keys: string[];
}

// ---- Partitions ----

export interface CreatePartitionRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  partition_name: string;
}

export interface DropPartitionRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  partition_name: string;
}

export interface HasPartitionRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  partition_name: string;
}

export interface LoadPartitionsRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  partition_names: string[];
  replica_number: number;
  resource_groups: string[];
  refresh: boolean;
  load_fields: string[];
  skip_load_dynamic_field: boolean;
  load_params: Record<string, string>;
}

export interface ReleasePartitionsRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  partition_names: string[];
}

export interface GetPartitionStatisticsRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  partition_name: string;
}

export interface GetPartitionStatisticsResponse {
  status?: Status | null;
  stats?: KeyValuePair[];
}

export interface ShowPartitionsRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  collectionID: Int64;
  partition_names: string[];
  type: ShowType | number;
}

export interface ShowPartitionsResponse {
  status?: Status | null;
  partition_names?: string[];
  partitionIDs?: Int64Like[];
  created_timestamps?: Int64Like[];
  created_utc_timestamps?: Int64Like[];
  inMemory_percentages?: Int64Like[];
}

// ---- Loading ----

export interface GetLoadingProgressRequest {
  base: MsgBase | null;
  collection_name: string;
  partition_names: string[];
  db_name: string;
}

export interface GetLoadingProgressResponse {
  status?: Status | null;
  /** Percent 0..100; the SDKs poll until >= 100. */
  progress?: Int64Like;
  refresh_progress?: Int64Like;
}

export interface GetLoadStateRequest {
  base: MsgBase | null;
  collection_name: string;
  partition_names: string[];
  db_name: string;
}

export interface GetLoadStateResponse {
  status?: Status | null;
  state?: LoadState | number;
}

// ---- Aliases ----

export interface CreateAliasRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  alias: string;
}

export interface DropAliasRequest {
  base: MsgBase | null;
  db_name: string;
  alias: string;
}

export interface AlterAliasRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  alias: string;
}

export interface DescribeAliasRequest {
  base: MsgBase | null;
  db_name: string;
  alias: string;
}

export interface DescribeAliasResponse {
  status?: Status | null;
  db_name?: string;
  alias?: string;
  collection?: string;
}

export interface ListAliasesRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
}

export interface ListAliasesResponse {
  status?: Status | null;
  db_name?: string;
  collection_name?: string;
  aliases?: string[];
}

// ---- Indexes ----

export interface CreateIndexRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  field_name: string;
  /** index_type, metric_type, and a "params" JSON object and/or flat build parameters. */
  extra_params: KeyValuePair[];
  index_name: string;
}

export interface DescribeIndexRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  field_name: string;
  index_name: string;
  timestamp: Int64;
}

export interface IndexDescription {
  index_name?: string;
  indexID?: Int64Like;
  /** index_type, metric_type, params (JSON string) — pymilvus JSON-parses "params". */
  params?: KeyValuePair[];
  field_name?: string;
  indexed_rows?: Int64Like;
  total_rows?: Int64Like;
  state?: IndexState | number;
  index_state_fail_reason?: string;
  pending_index_rows?: Int64Like;
  min_index_version?: number;
  max_index_version?: number;
}

export interface DescribeIndexResponse {
  status?: Status | null;
  index_descriptions?: IndexDescription[];
}

export interface GetIndexStateRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  field_name: string;
  index_name: string;
}

export interface GetIndexStateResponse {
  status?: Status | null;
  state?: IndexState | number;
  fail_reason?: string;
}

export interface GetIndexBuildProgressRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  field_name: string;
  index_name: string;
}

export interface GetIndexBuildProgressResponse {
  status?: Status | null;
  indexed_rows?: Int64Like;
  total_rows?: Int64Like;
}

export interface DropIndexRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  field_name: string;
  index_name: string;
}

// ---- Data ----

export interface InsertRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  partition_name: string;
  fields_data: FieldData[];
  hash_keys: number[];
  num_rows: number;
  /** DescribeCollectionResponse.update_timestamp as the client saw it; "0" when not sent. */
  schema_timestamp: Int64;
  _namespace?: 'namespace';
  namespace?: string;
}

export interface UpsertRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  partition_name: string;
  fields_data: FieldData[];
  hash_keys: number[];
  num_rows: number;
  schema_timestamp: Int64;
  partial_update: boolean;
  _namespace?: 'namespace';
  namespace?: string;
  field_ops: FieldPartialUpdateOp[];
}

export interface DeleteRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  partition_name: string;
  expr: string;
  hash_keys: number[];
  consistency_level: ConsistencyLevel | number;
  expr_template_values: Record<string, TemplateValue>;
}

export interface MutationResult {
  status?: Status | null;
  /** Insert/Upsert: the keys written. Delete: leave empty (pymilvus then reports delete_count). */
  IDs?: IDsOut | null;
  succ_index?: number[];
  err_index?: number[];
  acknowledged?: boolean;
  insert_cnt?: Int64Like;
  delete_cnt?: Int64Like;
  upsert_cnt?: Int64Like;
  /** The write's hybrid timestamp; pymilvus keeps it as the collection's Session guarantee_timestamp. */
  timestamp?: Int64Like;
}

export interface SearchRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  partition_names: string[];
  /** The filter expression ("" = none). */
  dsl: string;
  search_input?: 'placeholder_group' | 'ids';
  /** A serialized PlaceholderGroup (decodePlaceholderGroup()). */
  placeholder_group?: Buffer;
  /** Search with the stored vectors of these primary keys. */
  ids?: IDs;
  dsl_type: DslType | number;
  output_fields: string[];
  /** anns_field, topk, metric_type, params (JSON), offset, round_decimal, ignore_growing, ... as strings. */
  search_params: KeyValuePair[];
  travel_timestamp: Int64;
  guarantee_timestamp: Int64;
  nq: Int64;
  not_return_all_meta: boolean;
  consistency_level: ConsistencyLevel | number;
  use_default_consistency: boolean;
  search_by_primary_keys: boolean;
  /** Hybrid sub-requests (not served: refused). */
  sub_reqs: SubSearchRequest[];
  expr_template_values: Record<string, TemplateValue>;
  /** Reranking functions applied to the hits (decay, rrf, weighted). */
  function_score: FunctionScore | null;
  _namespace?: 'namespace';
  namespace?: string;
  /** Highlighting (not served: refused). */
  highlighter: Highlighter | null;
}

export interface SubSearchRequest {
  dsl: string;
  placeholder_group: Buffer;
  dsl_type: DslType | number;
  search_params: KeyValuePair[];
  nq: Int64;
  expr_template_values: Record<string, TemplateValue>;
  _namespace?: 'namespace';
  namespace?: string;
}

/** Several searches on vector fields of one collection, fused by `rank_params` or `function_score`. */
export interface HybridSearchRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  partition_names: string[];
  requests: SearchRequest[];
  /** strategy (rrf | weighted), params (JSON), limit, offset, round_decimal, as strings. */
  rank_params: KeyValuePair[];
  travel_timestamp: Int64;
  guarantee_timestamp: Int64;
  not_return_all_meta: boolean;
  output_fields: string[];
  consistency_level: ConsistencyLevel | number;
  use_default_consistency: boolean;
  function_score: FunctionScore | null;
  _namespace?: 'namespace';
  namespace?: string;
}

export interface SearchResults {
  status?: Status | null;
  results?: SearchResultData | null;
  collection_name?: string;
  session_ts?: Int64Like;
}

export interface FlushRequest {
  base: MsgBase | null;
  db_name: string;
  collection_names: string[];
}

export interface FlushResponse {
  status?: Status | null;
  db_name?: string;
  /** Per collection, the segments sealed by this flush (pymilvus then polls GetFlushState with them). */
  coll_segIDs?: Record<string, LongArrayOut>;
  flush_coll_segIDs?: Record<string, LongArrayOut>;
  coll_seal_times?: Record<string, Int64Like>;
  coll_flush_ts?: Record<string, Int64Like>;
}

export interface QueryRequest {
  base: MsgBase | null;
  db_name: string;
  collection_name: string;
  expr: string;
  output_fields: string[];
  partition_names: string[];
  travel_timestamp: Int64;
  guarantee_timestamp: Int64;
  /** limit, offset, ignore_growing, reduce_stop_for_best, iterator, collection_id, ... as strings. */
  query_params: KeyValuePair[];
  not_return_all_meta: boolean;
  consistency_level: ConsistencyLevel | number;
  use_default_consistency: boolean;
  expr_template_values: Record<string, TemplateValue>;
  _namespace?: 'namespace';
  namespace?: string;
}

export interface QueryResults {
  status?: Status | null;
  /** One column per output field, all of the same length, present even with zero rows. */
  fields_data?: FieldDataOut[];
  collection_name?: string;
  output_fields?: string[];
  session_ts?: Int64Like;
  primary_field_name?: string;
}

export interface GetFlushStateRequest {
  segmentIDs: Int64[];
  flush_ts: Int64;
  db_name: string;
  collection_name: string;
}

export interface GetFlushStateResponse {
  status?: Status | null;
  flushed?: boolean;
}

export interface ManualCompactionRequest {
  collectionID: Int64;
  timetravel: Int64;
  majorCompaction: boolean;
  collection_name: string;
  db_name: string;
  partition_id: Int64;
  channel: string;
  segment_ids: Int64[];
  l0Compaction: boolean;
  target_size: Int64;
}

export interface ManualCompactionResponse {
  status?: Status | null;
  compactionID?: Int64Like;
  compactionPlanCount?: number;
}

export interface ImportRequest {
  collection_name: string;
  partition_name: string;
  channel_names: string[];
  row_based: boolean;
  files: string[];
  options: KeyValuePair[];
  db_name: string;
  clustering_info: Buffer;
}

export interface ImportResponse {
  status?: Status | null;
  tasks?: Int64Like[];
}

export interface GetImportStateRequest {
  task: Int64;
}

export interface GetImportStateResponse {
  status?: Status | null;
  state?: ImportState | number;
  row_count?: Int64Like;
  id_list?: Int64Like[];
  infos?: KeyValuePair[];
  id?: Int64Like;
  collection_id?: Int64Like;
  segment_ids?: Int64Like[];
  create_ts?: Int64Like;
}

export interface ListImportTasksRequest {
  collection_name: string;
  limit: Int64;
  db_name: string;
}

export interface ListImportTasksResponse {
  status?: Status | null;
  tasks?: GetImportStateResponse[];
}

export interface GetCompactionStateRequest {
  compactionID: Int64;
}

export interface GetCompactionStateResponse {
  status?: Status | null;
  state?: CompactionState | number;
  executingPlanNo?: Int64Like;
  timeoutPlanNo?: Int64Like;
  completedPlanNo?: Int64Like;
  failedPlanNo?: Int64Like;
}

export interface GetCompactionPlansRequest {
  compactionID: Int64;
}

export interface CompactionMergeInfo {
  sources: Int64[];
  target: Int64;
}

export interface GetCompactionPlansResponse {
  status?: Status | null;
  state?: CompactionState | number;
  mergeInfos?: CompactionMergeInfo[];
}

export interface GetReplicasRequest {
  base: MsgBase | null;
  collectionID: Int64;
  with_shard_nodes: boolean;
  collection_name: string;
  db_name: string;
}

export interface ShardReplica {
  leaderID?: Int64Like;
  leader_addr?: string;
  dm_channel_name?: string;
  node_ids?: Int64Like[];
}

export interface ReplicaInfo {
  replicaID?: Int64Like;
  collectionID?: Int64Like;
  partition_ids?: Int64Like[];
  shard_replicas?: ShardReplica[];
  node_ids?: Int64Like[];
  resource_group_name?: string;
  num_outbound_node?: Record<string, number>;
}

export interface GetReplicasResponse {
  status?: Status | null;
  replicas?: ReplicaInfo[];
}

// ---- Server ----

export type GetComponentStatesRequest = Record<string, never>;

export interface ComponentInfo {
  nodeID?: Int64Like;
  role?: string;
  state_code?: StateCode | number;
  extra_info?: KeyValuePair[];
}

export interface ComponentStates {
  state?: ComponentInfo | null;
  subcomponent_states?: ComponentInfo[];
  status?: Status | null;
}

export type GetVersionRequest = Record<string, never>;

export interface GetVersionResponse {
  status?: Status | null;
  version?: string;
}

export type CheckHealthRequest = Record<string, never>;

export interface CheckHealthResponse {
  status?: Status | null;
  isHealthy?: boolean;
  reasons?: string[];
  quota_states?: (QuotaState | number)[];
}

// ---- Credentials ----

/** Passwords are base64 of the UTF-8 password, as both SDKs send them. */
export interface CreateCredentialRequest {
  base: MsgBase | null;
  username: string;
  password: string;
  created_utc_timestamps: Int64;
  modified_utc_timestamps: Int64;
}

export interface UpdateCredentialRequest {
  base: MsgBase | null;
  username: string;
  oldPassword: string;
  newPassword: string;
  created_utc_timestamps: Int64;
  modified_utc_timestamps: Int64;
}

export interface DeleteCredentialRequest {
  base: MsgBase | null;
  username: string;
}

export interface ListCredUsersRequest {
  base: MsgBase | null;
}

export interface ListCredUsersResponse {
  status?: Status | null;
  usernames?: string[];
}

// ---- Roles and privileges ----

/** Named entities (role, user, object type, privilege): the same shape received and sent. */
export interface RoleEntity {
  name: string;
}
export interface UserEntity {
  name: string;
}
export interface ObjectEntity {
  name: string;
}
export interface PrivilegeEntity {
  name: string;
}

export interface GrantorEntity {
  user: UserEntity | null;
  privilege: PrivilegeEntity | null;
}

export interface GrantEntity {
  role: RoleEntity | null;
  object: ObjectEntity | null;
  object_name: string;
  grantor: GrantorEntity | null;
  db_name: string;
}

/** A grant as sent (every field optional). */
export interface GrantEntityOut {
  role?: RoleEntity | null;
  object?: ObjectEntity | null;
  object_name?: string;
  grantor?: GrantorEntityOut | null;
  db_name?: string;
}

export interface GrantorEntityOut {
  user?: UserEntity | null;
  privilege?: PrivilegeEntity | null;
}

export interface CreateRoleRequest {
  base: MsgBase | null;
  entity: RoleEntity | null;
}

export interface DropRoleRequest {
  base: MsgBase | null;
  role_name: string;
  force_drop: boolean;
}

export type OperateUserRoleType = 'AddUserToRole' | 'RemoveUserFromRole';

export interface OperateUserRoleRequest {
  base: MsgBase | null;
  username: string;
  role_name: string;
  type: OperateUserRoleType | number;
}

export interface SelectRoleRequest {
  base: MsgBase | null;
  role: RoleEntity | null;
  include_user_info: boolean;
}

export interface SelectRoleResponse {
  status?: Status | null;
  results?: RoleResult[];
}

export interface RoleResult {
  role?: RoleEntity | null;
  users?: UserEntity[];
}

export interface SelectUserRequest {
  base: MsgBase | null;
  user: UserEntity | null;
  include_role_info: boolean;
}

export interface SelectUserResponse {
  status?: Status | null;
  results?: UserResult[];
}

export interface UserResult {
  user?: UserEntity | null;
  roles?: RoleEntity[];
}

export interface SelectGrantRequest {
  base: MsgBase | null;
  entity: GrantEntity | null;
}

export interface SelectGrantResponse {
  status?: Status | null;
  entities?: GrantEntityOut[];
}

export type OperatePrivilegeType = 'Grant' | 'Revoke';

export interface OperatePrivilegeRequest {
  base: MsgBase | null;
  entity: GrantEntity | null;
  type: OperatePrivilegeType | number;
  version: string;
}

export interface OperatePrivilegeV2Request {
  base: MsgBase | null;
  role: RoleEntity | null;
  grantor: GrantorEntity | null;
  type: OperatePrivilegeType | number;
  db_name: string;
  collection_name: string;
}

export interface CreatePrivilegeGroupRequest {
  base: MsgBase | null;
  group_name: string;
}

export interface DropPrivilegeGroupRequest {
  base: MsgBase | null;
  group_name: string;
}

export interface ListPrivilegeGroupsRequest {
  base: MsgBase | null;
}

export interface PrivilegeGroupInfo {
  group_name?: string;
  privileges?: PrivilegeEntity[];
}

export interface ListPrivilegeGroupsResponse {
  status?: Status | null;
  privilege_groups?: PrivilegeGroupInfo[];
}

export type OperatePrivilegeGroupType = 'AddPrivilegesToGroup' | 'RemovePrivilegesFromGroup';

export interface OperatePrivilegeGroupRequest {
  base: MsgBase | null;
  group_name: string;
  privileges: PrivilegeEntity[];
  type: OperatePrivilegeGroupType | number;
}

export interface ConnectRequest {
  base: MsgBase | null;
  client_info: ClientInfo | null;
}

export interface ConnectResponse {
  status?: Status | null;
  server_info?: ServerInfo | null;
  /** Non-zero; the client sends it back as the `identifier` metadata header. */
  identifier?: Int64Like;
}

export interface AllocTimestampRequest {
  base: MsgBase | null;
}

export interface AllocTimestampResponse {
  status?: Status | null;
  timestamp?: Int64Like;
}

// ---- Databases ----

export interface CreateDatabaseRequest {
  base: MsgBase | null;
  db_name: string;
  properties: KeyValuePair[];
}

export interface DropDatabaseRequest {
  base: MsgBase | null;
  db_name: string;
}

export interface AlterDatabaseRequest {
  base: MsgBase | null;
  db_name: string;
  db_id: string;
  properties: KeyValuePair[];
  delete_keys: string[];
}

export interface ListDatabasesRequest {
  base: MsgBase | null;
}

export interface ListDatabasesResponse {
  status?: Status | null;
  db_names?: string[];
  created_timestamp?: Int64Like[];
  db_ids?: Int64Like[];
}

export interface DescribeDatabaseRequest {
  base: MsgBase | null;
  db_name: string;
}

export interface DescribeDatabaseResponse {
  status?: Status | null;
  db_name?: string;
  dbID?: Int64Like;
  created_timestamp?: Int64Like;
  properties?: KeyValuePair[];
}

// ---------------------------------------------------------------------------------------------------------------
// Text analysis

export interface RunAnalyzerRequest {
  base: MsgBase | null;
  /** JSON text of analyzer_params; "" for the default (standard) analyzer or a field's own. */
  analyzer_params: string;
  /** The texts, UTF-8. */
  placeholder: Buffer[];
  with_detail: boolean;
  with_hash: boolean;
  db_name: string;
  collection_name: string;
  field_name: string;
  analyzer_names: string[];
}

export interface AnalyzerToken {
  token?: string;
  /** UTF-8 byte offsets. */
  start_offset?: Int64Like;
  end_offset?: Int64Like;
  position?: Int64Like;
  position_length?: Int64Like;
  hash?: number;
}

export interface AnalyzerResult {
  tokens?: AnalyzerToken[];
}

export interface RunAnalyzerResponse {
  status?: Status | null;
  results?: AnalyzerResult[];
}

// ---------------------------------------------------------------------------------------------------------------
// The service

/** Request and response type of every MilvusService method Kite serves. */
/** Request of an RPC Kite does not serve: read as empty. */
export type KiteUnsupportedRequest = Record<string, never>;

/** Response of an RPC Kite does not serve: the status alone. */
export interface KiteUnsupportedResponse {
  status?: Status | null;
}

// ---- Operations: FlushAll, segment information, LoadBalance, GetMetrics ----

export interface FlushAllTarget {
  db_name: string;
  collection_names: string[];
}

export interface FlushAllRequest {
  base: MsgBase | null;
  db_name: string;
  flush_targets: FlushAllTarget[];
}

export interface FlushCollectionResult {
  collection_name?: string;
  segment_ids?: LongArrayOut | null;
  flush_segment_ids?: LongArrayOut | null;
  seal_time?: Int64Like;
  flush_ts?: Int64Like;
}

export interface FlushAllResult {
  db_name?: string;
  collection_results?: FlushCollectionResult[];
}

export interface FlushAllResponse {
  status?: Status | null;
  flush_all_ts?: Int64Like;
  flush_results?: FlushAllResult[];
}

export interface GetFlushAllStateRequest {
  base: MsgBase | null;
  flush_all_ts: Int64;
  db_name: string;
  flush_targets: FlushAllTarget[];
  flush_all_tss: Record<string, Int64>;
}

export interface FlushAllState {
  db_name?: string;
  collection_flush_states?: Record<string, boolean>;
}

export interface GetFlushAllStateResponse {
  status?: Status | null;
  flushed?: boolean;
  flush_states?: FlushAllState[];
}

export interface GetPersistentSegmentInfoRequest {
  base: MsgBase | null;
  dbName: string;
  collectionName: string;
}

export interface PersistentSegmentInfo {
  segmentID?: Int64Like;
  collectionID?: Int64Like;
  partitionID?: Int64Like;
  num_rows?: Int64Like;
  state?: SegmentState | number;
  level?: SegmentLevel | number;
  is_sorted?: boolean;
  storage_version?: Int64Like;
}

export interface GetPersistentSegmentInfoResponse {
  status?: Status | null;
  infos?: PersistentSegmentInfo[];
}

export interface GetQuerySegmentInfoRequest {
  base: MsgBase | null;
  dbName: string;
  collectionName: string;
}

export interface QuerySegmentInfo {
  segmentID?: Int64Like;
  collectionID?: Int64Like;
  partitionID?: Int64Like;
  mem_size?: Int64Like;
  num_rows?: Int64Like;
  index_name?: string;
  indexID?: Int64Like;
  nodeID?: Int64Like;
  state?: SegmentState | number;
  nodeIds?: Int64Like[];
  level?: SegmentLevel | number;
  is_sorted?: boolean;
  storage_version?: Int64Like;
}

export interface GetQuerySegmentInfoResponse {
  status?: Status | null;
  infos?: QuerySegmentInfo[];
}

export interface LoadBalanceRequest {
  base: MsgBase | null;
  src_nodeID: Int64;
  dst_nodeIDs: Int64[];
  sealed_segmentIDs: Int64[];
  collectionName: string;
  db_name: string;
}

export interface GetMetricsRequest {
  base: MsgBase | null;
  request: string;
}

export interface GetMetricsResponse {
  status?: Status | null;
  response?: string;
  component_name?: string;
}

export interface MilvusMethods {
  CreateCollection: [CreateCollectionRequest, Status];
  DropCollection: [DropCollectionRequest, Status];
  HasCollection: [HasCollectionRequest, BoolResponse];
  LoadCollection: [LoadCollectionRequest, Status];
  ReleaseCollection: [ReleaseCollectionRequest, Status];
  DescribeCollection: [DescribeCollectionRequest, DescribeCollectionResponse];
  GetCollectionStatistics: [GetCollectionStatisticsRequest, GetCollectionStatisticsResponse];
  ShowCollections: [ShowCollectionsRequest, ShowCollectionsResponse];
  AlterCollection: [AlterCollectionRequest, Status];
  CreatePartition: [CreatePartitionRequest, Status];
  DropPartition: [DropPartitionRequest, Status];
  HasPartition: [HasPartitionRequest, BoolResponse];
  LoadPartitions: [LoadPartitionsRequest, Status];
  ReleasePartitions: [ReleasePartitionsRequest, Status];
  GetPartitionStatistics: [GetPartitionStatisticsRequest, GetPartitionStatisticsResponse];
  ShowPartitions: [ShowPartitionsRequest, ShowPartitionsResponse];
  GetLoadingProgress: [GetLoadingProgressRequest, GetLoadingProgressResponse];
  GetLoadState: [GetLoadStateRequest, GetLoadStateResponse];
  CreateAlias: [CreateAliasRequest, Status];
  DropAlias: [DropAliasRequest, Status];
  AlterAlias: [AlterAliasRequest, Status];
  DescribeAlias: [DescribeAliasRequest, DescribeAliasResponse];
  ListAliases: [ListAliasesRequest, ListAliasesResponse];
  CreateIndex: [CreateIndexRequest, Status];
  DescribeIndex: [DescribeIndexRequest, DescribeIndexResponse];
  GetIndexState: [GetIndexStateRequest, GetIndexStateResponse];
  GetIndexBuildProgress: [GetIndexBuildProgressRequest, GetIndexBuildProgressResponse];
  DropIndex: [DropIndexRequest, Status];
  Insert: [InsertRequest, MutationResult];
  Delete: [DeleteRequest, MutationResult];
  Upsert: [UpsertRequest, MutationResult];
  Search: [SearchRequest, SearchResults];
  HybridSearch: [HybridSearchRequest, SearchResults];
  Flush: [FlushRequest, FlushResponse];
  Query: [QueryRequest, QueryResults];
  GetFlushState: [GetFlushStateRequest, GetFlushStateResponse];
  GetReplicas: [GetReplicasRequest, GetReplicasResponse];
  GetComponentStates: [GetComponentStatesRequest, ComponentStates];
  GetVersion: [GetVersionRequest, GetVersionResponse];
  CheckHealth: [CheckHealthRequest, CheckHealthResponse];
  Connect: [ConnectRequest, ConnectResponse];
  AllocTimestamp: [AllocTimestampRequest, AllocTimestampResponse];
  CreateDatabase: [CreateDatabaseRequest, Status];
  DropDatabase: [DropDatabaseRequest, Status];
  AlterDatabase: [AlterDatabaseRequest, Status];
  ListDatabases: [ListDatabasesRequest, ListDatabasesResponse];
  DescribeDatabase: [DescribeDatabaseRequest, DescribeDatabaseResponse];
  CreateCredential: [CreateCredentialRequest, Status];
  UpdateCredential: [UpdateCredentialRequest, Status];
  DeleteCredential: [DeleteCredentialRequest, Status];
  ListCredUsers: [ListCredUsersRequest, ListCredUsersResponse];
  CreateRole: [CreateRoleRequest, Status];
  DropRole: [DropRoleRequest, Status];
  OperateUserRole: [OperateUserRoleRequest, Status];
  SelectRole: [SelectRoleRequest, SelectRoleResponse];
  SelectUser: [SelectUserRequest, SelectUserResponse];
  OperatePrivilege: [OperatePrivilegeRequest, Status];
  OperatePrivilegeV2: [OperatePrivilegeV2Request, Status];
  SelectGrant: [SelectGrantRequest, SelectGrantResponse];
  CreatePrivilegeGroup: [CreatePrivilegeGroupRequest, Status];
  DropPrivilegeGroup: [DropPrivilegeGroupRequest, Status];
  ListPrivilegeGroups: [ListPrivilegeGroupsRequest, ListPrivilegeGroupsResponse];
  OperatePrivilegeGroup: [OperatePrivilegeGroupRequest, Status];
  // Unserved RPCs: they answer with a "not supported" status.
  BatchDescribeCollection: [KiteUnsupportedRequest, KiteUnsupportedResponse];
  AlterCollectionField: [AlterCollectionFieldRequest, Status];
  AddCollectionFunction: [KiteUnsupportedRequest, Status];
  AlterCollectionFunction: [KiteUnsupportedRequest, Status];
  DropCollectionFunction: [KiteUnsupportedRequest, Status];
  TruncateCollection: [TruncateCollectionRequest, TruncateCollectionResponse];
  AlterIndex: [KiteUnsupportedRequest, Status];
  GetIndexStatistics: [KiteUnsupportedRequest, KiteUnsupportedResponse];
  CalcDistance: [KiteUnsupportedRequest, KiteUnsupportedResponse];
  FlushAll: [FlushAllRequest, FlushAllResponse];
  AddCollectionField: [AddCollectionFieldRequest, Status];
  GetFlushAllState: [GetFlushAllStateRequest, GetFlushAllStateResponse];
  GetPersistentSegmentInfo: [GetPersistentSegmentInfoRequest, GetPersistentSegmentInfoResponse];
  GetQuerySegmentInfo: [GetQuerySegmentInfoRequest, GetQuerySegmentInfoResponse];
  GetMetrics: [GetMetricsRequest, GetMetricsResponse];
  LoadBalance: [LoadBalanceRequest, Status];
  GetCompactionState: [GetCompactionStateRequest, GetCompactionStateResponse];
  ManualCompaction: [ManualCompactionRequest, ManualCompactionResponse];
  GetCompactionStateWithPlans: [GetCompactionPlansRequest, GetCompactionPlansResponse];
  Import: [ImportRequest, ImportResponse];
  GetImportState: [GetImportStateRequest, GetImportStateResponse];
  ListImportTasks: [ListImportTasksRequest, ListImportTasksResponse];
  CreateResourceGroup: [KiteUnsupportedRequest, Status];
  DropResourceGroup: [KiteUnsupportedRequest, Status];
  UpdateResourceGroups: [KiteUnsupportedRequest, Status];
  TransferNode: [KiteUnsupportedRequest, Status];
  TransferReplica: [KiteUnsupportedRequest, Status];
  ListResourceGroups: [KiteUnsupportedRequest, KiteUnsupportedResponse];
  DescribeResourceGroup: [KiteUnsupportedRequest, KiteUnsupportedResponse];
  RenameCollection: [RenameCollectionRequest, Status];
  ListIndexedSegment: [KiteUnsupportedRequest, KiteUnsupportedResponse];
  DescribeSegmentIndexData: [KiteUnsupportedRequest, KiteUnsupportedResponse];
  ReplicateMessage: [KiteUnsupportedRequest, KiteUnsupportedResponse];
  BackupRBAC: [KiteUnsupportedRequest, KiteUnsupportedResponse];
  RestoreRBAC: [KiteUnsupportedRequest, Status];
  RunAnalyzer: [RunAnalyzerRequest, RunAnalyzerResponse];
  AddFileResource: [KiteUnsupportedRequest, Status];
  RemoveFileResource: [KiteUnsupportedRequest, Status];
  ListFileResources: [KiteUnsupportedRequest, KiteUnsupportedResponse];
  AddUserTags: [KiteUnsupportedRequest, Status];
  DeleteUserTags: [KiteUnsupportedRequest, Status];
  GetUserTags: [KiteUnsupportedRequest, KiteUnsupportedResponse];
  ListUsersWithTag: [KiteUnsupportedRequest, KiteUnsupportedResponse];
  CreateRowPolicy: [KiteUnsupportedRequest, Status];
  DropRowPolicy: [KiteUnsupportedRequest, Status];
  ListRowPolicies: [KiteUnsupportedRequest, KiteUnsupportedResponse];
  UpdateReplicateConfiguration: [KiteUnsupportedRequest, Status];
  GetReplicateConfiguration: [KiteUnsupportedRequest, KiteUnsupportedResponse];
}

export type MilvusMethodName = keyof MilvusMethods;
export type MilvusRequest<M extends MilvusMethodName> = MilvusMethods[M][0];
export type MilvusResponse<M extends MilvusMethodName> = MilvusMethods[M][1];
