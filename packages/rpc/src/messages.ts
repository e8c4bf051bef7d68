/** TypeScript shapes of proto/kite/internal.proto as loaded (keepCase, int64 as number, defaults on). */

export interface Status {
  code: number;
  kind: string;
  reason: string;
  retriable: boolean;
}
export interface StatusResponse {
  status?: Status;
}
export type Empty = Record<string, never>;

export interface FieldSchema {
  field_id: number;
  name: string;
  data_type: string;
  is_primary_key: boolean;
  auto_id: boolean;
  description: string;
  type_params: Record<string, string>;
  is_dynamic: boolean;
  is_partition_key: boolean;
  nullable: boolean;
  /** Accepted and described back; clustering by it comes with compaction. */
  is_clustering_key?: boolean;
  /** Array fields: the elements' data type; '' (or absent) for other types. */
  element_type?: string;
  /** The default value as JSON text (Int64 as a JSON string); '' or absent = none. */
  default_value?: string;
}

export interface AllocRequest { count: number }
export interface AllocResponse { status?: Status; start: string; count: number }
export interface CreateCollectionRequest {
  name: string;
  description: string;
  fields: FieldSchema[];
  enable_dynamic_field: boolean;
  shards_num: number;
  consistency_level: string;
  properties: Record<string, string>;
  num_partitions: number;
  /** '' = default */
  db_name: string;
  /** BM25 functions, checked by the proxy. */
  functions: FunctionSchema[];
}
export interface FunctionSchema {
  name: string;
  id: number;
  description: string;
  type: string;
  input_field_names: string[];
  output_field_names: string[];
  params: Record<string, string>;
}
export interface CollectionIdResponse { status?: Status; collection_id: number }
export interface CollectionNameRequest { name: string; db_name: string }
export interface PartitionRequest { collection_name: string; partition_name: string; db_name: string }
export interface CreateIndexRequest { collection_name: string; field_name: string; index_name: string; params: Record<string, string>; db_name: string }
export interface DropIndexRequest { collection_name: string; field_name: string; index_name: string; db_name: string }
export interface AliasRequest { op: 'create' | 'alter' | 'drop'; alias: string; collection_name: string; db_name: string }
export interface AlterCollectionRequest { collection_name: string; properties: Record<string, string>; db_name: string; delete_keys?: string[] }
export interface RenameCollectionRequest { db_name: string; old_name: string; new_name: string; new_db_name: string }
export interface TruncateCollectionRequest { collection_name: string; db_name: string }
export interface ManualCompactionRequest { collection_id: number; clustering: boolean }
export interface ManualCompactionResponse { status?: Status; compaction_id: number; plan_count: number }
export interface CompactPlanRequest { compaction_id: number; plan_id: number }
export interface ImportTaskRequest { task_id: number }
export interface AddFieldRequest { collection_name: string; db_name: string; field: FieldSchema }
export interface AlterFieldRequest { collection_name: string; db_name: string; field_name: string; properties: Record<string, string>; delete_keys: string[] }
export interface LoadRequest { collection_name: string; replica_number: number; partition_names: string[]; db_name: string }
export interface ReleaseRequest { collection_name: string; partition_names: string[]; db_name: string }
export interface DatabaseRequest { db_name: string; properties: Record<string, string>; delete_keys: string[] }
export interface LoadInfoResponse {
  status?: Status;
  state: 'NotLoad' | 'Loading' | 'Loaded';
  progress: number;
  replica_number: number;
  loaded_partition_ids: number[];
}
export interface ShardLeader { channel: string; node_id: number; address: string; serviceable: boolean }
export interface ReplicaInfo { replica_id: number; node_ids: number[]; shards: ShardLeader[] }
export interface ShardLeadersResponse { status?: Status; replicas: ReplicaInfo[] }
export interface IndexProgressResponse { status?: Status; total_rows: number; indexed_rows: number; pending_segments: number }

export interface WatchChannelRequest { collection_id: number; channel: string; replica_id: number; from_offset: number }
export interface ChannelRequest { collection_id: number; channel: string; replica_id: number }
export interface SegmentsRequest { collection_id: number; replica_id: number; segment_ids: number[] }
export interface SealedPlacement { segment_id: number; node_id: number; address: string; end_offset: number }
export interface SyncDistributionRequest {
  collection_id: number;
  channel: string;
  replica_id: number;
  sealed: SealedPlacement[];
  watermark: number;
}
export interface ChannelDist {
  collection_id: number;
  channel: string;
  replica_id: number;
  consumed_offset: number;
  watermark: number;
  growing_rows: number;
  serviceable: boolean;
}
export interface SegmentDist { collection_id: number; segment_id: number; replica_id: number; num_rows: number; channel: string }
export interface DistributionResponse {
  status?: Status;
  node_id: number;
  channels: ChannelDist[];
  segments: SegmentDist[];
  indexing_segments: number[];
}
export interface SearchRequest {
  collection_id: number;
  channel: string;
  replica_id: number;
  delegator: boolean;
  segment_ids: number[];
  anns_field: string;
  metric_type: string;
  topk: number;
  nq: number;
  vectors: Buffer;
  filter: string;
  filter_params: string;
  partition_ids: number[];
  search_params: Record<string, string>;
  output_fields: string[];
  min_consumed_offset: number;
  watermark: number;
  deletes: Buffer;
  timeout_ms: number;
  /** The filter as the proxy checked it (@kite/expr encodePlan); query nodes compile it instead of parsing `filter`. */
  filter_plan: string;
  /** SparseFloatVector fields: a column batch of one sparse column `$query` (nq rows); `vectors` is then empty. */
  sparse_queries: Buffer;
  /** BM25 metric: the collection-wide figures to score with (JSON, see @kite/sparse Bm25Query; df as [term, count] pairs). */
  bm25_stats: string;
  /** Answer with the statistics of the query terms instead of hits (the first phase of a BM25 search). */
  bm25_stats_only: boolean;
}
export interface SearchResponse {
  status?: Status;
  hits: Buffer;
  /** For bm25_stats_only: JSON TermStats ({numDocs, sumDocLen, df}) of the query's distinct terms, in request order. */
  bm25_stats?: string;
}
export interface QueryRequest {
  collection_id: number;
  channel: string;
  replica_id: number;
  delegator: boolean;
  segment_ids: number[];
  filter: string;
  filter_params: string;
  partition_ids: number[];
  output_fields: string[];
  limit: number;
  count_only: boolean;
  min_consumed_offset: number;
  watermark: number;
  deletes: Buffer;
  timeout_ms: number;
  /** An iterator query: the `limit` rows with the smallest primary keys, in ascending order. */
  order_by_pk: boolean;
  /** The filter as the proxy checked it (@kite/expr encodePlan); query nodes compile it instead of parsing `filter`. */
  filter_plan: string;
}
export interface QueryResponse { status?: Status; rows: Buffer; count: number }
export interface BalanceRequest { collection_id: number; src_node: number; dst_nodes: number[]; segment_ids: number[]; timeout_ms: number }
export interface PlacementRequest { collection_id: number }
export interface NodePlacement { node_id: number; role: string; address: string; state: string; segments: SegmentDist[] }
export interface PlacementResponse { status?: Status; nodes: NodePlacement[] }
export interface ClusterViewRequest { max_events: number }
export interface ViewNode { node_id: number; role: string; address: string; state: string; state_since_ms: number; segments: SegmentDist[]; channels: ChannelDist[] }
export interface ViewReplica { replica_id: number; node_ids: number[] }
export interface ViewCollection { collection_id: number; load_state: string; progress: number; replicas: ViewReplica[] }
export interface ViewTask { kind: string; node_id: number; collection_id: number; state: string; created_ms: number; detail: string }
export interface ViewEvent { seq: number; at_ms: number; kind: string; node_id: number; collection_id: number; message: string }
export interface ClusterViewResponse { status?: Status; nodes: ViewNode[]; collections: ViewCollection[]; tasks: ViewTask[]; events: ViewEvent[]; coordinator_started_ms: number }
export interface BuildIndexesRequest { collection_id: number; segment_ids: number[]; index_ids?: number[] }

/** Handlers a QueryCoord server implements (and a client calls). */
export interface QueryCoordApi {
  AllocTimestamp(r: AllocRequest): Promise<AllocResponse>;
  AllocIds(r: AllocRequest): Promise<AllocResponse>;
  CreateCollection(r: CreateCollectionRequest): Promise<CollectionIdResponse>;
  DropCollection(r: CollectionNameRequest): Promise<StatusResponse>;
  CreatePartition(r: PartitionRequest): Promise<StatusResponse>;
  DropPartition(r: PartitionRequest): Promise<StatusResponse>;
  CreateIndex(r: CreateIndexRequest): Promise<StatusResponse>;
  DropIndex(r: DropIndexRequest): Promise<StatusResponse>;
  ChangeAlias(r: AliasRequest): Promise<StatusResponse>;
  AlterCollection(r: AlterCollectionRequest): Promise<StatusResponse>;
  RenameCollection(r: RenameCollectionRequest): Promise<StatusResponse>;
  TruncateCollection(r: TruncateCollectionRequest): Promise<StatusResponse>;
  ManualCompaction(r: ManualCompactionRequest): Promise<ManualCompactionResponse>;
  AlterField(r: AlterFieldRequest): Promise<StatusResponse>;
  AddField(r: AddFieldRequest): Promise<StatusResponse>;
  LoadCollection(r: LoadRequest): Promise<StatusResponse>;
  ReleaseCollection(r: ReleaseRequest): Promise<StatusResponse>;
  GetLoadInfo(r: CollectionNameRequest): Promise<LoadInfoResponse>;
  GetShardLeaders(r: CollectionNameRequest): Promise<ShardLeadersResponse>;
  GetIndexProgress(r: DropIndexRequest): Promise<IndexProgressResponse>;
  CreateDatabase(r: DatabaseRequest): Promise<StatusResponse>;
  DropDatabase(r: DatabaseRequest): Promise<StatusResponse>;
  AlterDatabase(r: DatabaseRequest): Promise<StatusResponse>;
  LoadBalance(r: BalanceRequest): Promise<StatusResponse>;
  GetPlacement(r: PlacementRequest): Promise<PlacementResponse>;
  GetClusterView(r: ClusterViewRequest): Promise<ClusterViewResponse>;
}

export interface QueryNodeApi {
  WatchChannel(r: WatchChannelRequest): Promise<StatusResponse>;
  UnwatchChannel(r: ChannelRequest): Promise<StatusResponse>;
  LoadSegments(r: SegmentsRequest): Promise<StatusResponse>;
  ReleaseSegments(r: SegmentsRequest): Promise<StatusResponse>;
  SyncDistribution(r: SyncDistributionRequest): Promise<StatusResponse>;
  GetDistribution(r: Empty): Promise<DistributionResponse>;
  Search(r: SearchRequest): Promise<SearchResponse>;
  Query(r: QueryRequest): Promise<QueryResponse>;
}

export interface DataNodeApi {
  WatchChannel(r: WatchChannelRequest): Promise<StatusResponse>;
  UnwatchChannel(r: ChannelRequest): Promise<StatusResponse>;
  GetDistribution(r: Empty): Promise<DistributionResponse>;
  BuildIndexes(r: BuildIndexesRequest): Promise<StatusResponse>;
  Compact(r: CompactPlanRequest): Promise<StatusResponse>;
  Import(r: ImportTaskRequest): Promise<StatusResponse>;
}
