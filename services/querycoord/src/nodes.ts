import { connect, type CallOptions } from '@kite/rpc';
import type * as M from '@kite/rpc';

/** The query-node RPCs the coordinator calls. */
export interface QueryNodeClient {
  GetDistribution(r: M.Empty, o?: CallOptions): Promise<M.DistributionResponse>;
  WatchChannel(r: M.WatchChannelRequest, o?: CallOptions): Promise<M.StatusResponse>;
  UnwatchChannel(r: M.ChannelRequest, o?: CallOptions): Promise<M.StatusResponse>;
  LoadSegments(r: M.SegmentsRequest, o?: CallOptions): Promise<M.StatusResponse>;
  ReleaseSegments(r: M.SegmentsRequest, o?: CallOptions): Promise<M.StatusResponse>;
  SyncDistribution(r: M.SyncDistributionRequest, o?: CallOptions): Promise<M.StatusResponse>;
  close(): void;
}

/** The data-node RPCs the coordinator calls. */
export interface DataNodeClient {
  GetDistribution(r: M.Empty, o?: CallOptions): Promise<M.DistributionResponse>;
  WatchChannel(r: M.WatchChannelRequest, o?: CallOptions): Promise<M.StatusResponse>;
  UnwatchChannel(r: M.ChannelRequest, o?: CallOptions): Promise<M.StatusResponse>;
  BuildIndexes(r: M.BuildIndexesRequest, o?: CallOptions): Promise<M.StatusResponse>;
  Compact(r: M.CompactPlanRequest, o?: CallOptions): Promise<M.StatusResponse>;
  Import(r: M.ImportTaskRequest, o?: CallOptions): Promise<M.StatusResponse>;
  close(): void;
}

/** How the coordinator reaches nodes; tests pass fakes. */
export interface NodeConnector {
  queryNode(address: string): QueryNodeClient;
  dataNode(address: string): DataNodeClient;
}

/** Nodes over gRPC (`@kite/rpc`), each call bounded by `defaultTimeoutMs` unless it names its own. */
export function grpcConnector(defaultTimeoutMs: number): NodeConnector {
  return {
    queryNode: (address) => connect('QueryNode', address, defaultTimeoutMs),
    dataNode: (address) => connect('DataNode', address, defaultTimeoutMs),
  };
}
