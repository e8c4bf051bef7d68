/**
 * In-process fakes of query and data nodes for the coordinator's unit tests: they keep a distribution in memory,
 * apply the coordinator's RPCs to it, record every call, and can be made to fail, hang, or answer OK without
 * doing anything.
 */
import { KiteError } from '@kite/common';
import type * as M from '@kite/rpc';
import { OK_STATUS } from '@kite/rpc';
import type { CollectionMeta, SegmentMeta } from '@kite/segment';
import type { SessionInfo } from '@kite/session';
import type { DataNodeClient, NodeConnector, QueryNodeClient } from '../nodes';

export interface Call {
  method: string;
  req: unknown;
}

/** How a fake answers an RPC: normally, with an error, never, or OK without applying it. */
export type Mode = 'ok' | 'fail' | 'hang' | 'swallow';

abstract class FakeNode {
  readonly calls: Call[] = [];
  channels: M.ChannelDist[] = [];
  segments: M.SegmentDist[] = [];
  /** `down`: every call fails (the process is unreachable). */
  down = false;
  /** Per-method answer mode (default ok). */
  readonly modes = new Map<string, Mode>();

  constructor(readonly id: number) {}

  protected async handle(method: string, req: unknown, apply: () => void): Promise<M.StatusResponse> {
    this.calls.push({ method, req });
    if (this.down) throw new KiteError('NodeOffline', `fake node ${this.id} is down`);
    const mode = this.modes.get(method) ?? 'ok';
    if (mode === 'fail') throw new KiteError('Internal', `fake node ${this.id}: ${method} failed`);
    if (mode === 'hang') return new Promise<never>(() => undefined);
    if (mode === 'ok') apply();
    return { status: OK_STATUS };
  }

  async GetDistribution(): Promise<M.DistributionResponse> {
    if (this.down) throw new KiteError('NodeOffline', `fake node ${this.id} is down`);
    return { node_id: this.id, channels: this.channels.map((c) => ({ ...c })), segments: this.segments.map((s) => ({ ...s })), indexing_segments: [] };
  }

  callsOf(method: string): Call[] {
    return this.calls.filter((c) => c.method === method);
  }

  close(): void {}
}

export class FakeQueryNode extends FakeNode implements QueryNodeClient {
  /** The last sealed-segment list each delegator was told, by `<replica>/<channel>`. */
  readonly told = new Map<string, M.SyncDistributionRequest>();

  constructor(
    id: number,
    private readonly segmentMeta: (collection: number, segment: number) => SegmentMeta | undefined,
  ) {
    super(id);
  }

  WatchChannel(r: M.WatchChannelRequest): Promise<M.StatusResponse> {
    return this.handle('WatchChannel', r, () => {
      if (this.channels.some((c) => c.channel === r.channel && c.replica_id === r.replica_id)) return;
      this.channels.push({ collection_id: r.collection_id, channel: r.channel, replica_id: r.replica_id, consumed_offset: Number.MAX_SAFE_INTEGER, watermark: r.from_offset, growing_rows: 0, serviceable: false });
    });
  }

  UnwatchChannel(r: M.ChannelRequest): Promise<M.StatusResponse> {
    return this.handle('UnwatchChannel', r, () => {
      this.channels = this.channels.filter((c) => !(c.channel === r.channel && c.replica_id === r.replica_id));
      this.told.delete(`${r.replica_id}/${r.channel}`);
    });
  }

  LoadSegments(r: M.SegmentsRequest): Promise<M.StatusResponse> {
    return this.handle('LoadSegments', r, () => {
      for (const id of r.segment_ids) {
        if (this.segments.some((s) => s.segment_id === id && s.replica_id === r.replica_id)) continue;
        const meta = this.segmentMeta(r.collection_id, id);
        this.segments.push({ collection_id: r.collection_id, segment_id: id, replica_id: r.replica_id, num_rows: meta?.numRows ?? 0, channel: meta?.channel ?? '' });
      }
    });
  }

  ReleaseSegments(r: M.SegmentsRequest): Promise<M.StatusResponse> {
    return this.handle('ReleaseSegments', r, () => {
      this.segments = this.segments.filter((s) => !(s.replica_id === r.replica_id && r.segment_ids.includes(s.segment_id)));
    });
  }

  /** A delegator is serviceable once told its sealed segments (the fake has always caught up with its channel). */
  SyncDistribution(r: M.SyncDistributionRequest): Promise<M.StatusResponse> {
    return this.handle('SyncDistribution', r, () => {
      const ch = this.channels.find((c) => c.channel === r.channel && c.replica_id === r.replica_id);
      if (!ch) throw new KiteError('ChannelNotAvailable', `fake node ${this.id} has no delegator for ${r.channel}`);
      ch.serviceable = true;
      ch.watermark = Math.max(ch.watermark, r.watermark);
      this.told.set(`${r.replica_id}/${r.channel}`, r);
    });
  }

  /** Segment ids this node holds for a replica. */
  held(replica?: number): number[] {
    return this.segments.filter((s) => replica === undefined || s.replica_id === replica).map((s) => s.segment_id).sort((a, b) => a - b);
  }

  /** Channels this node has a delegator for. */
  delegating(replica?: number): string[] {
    return this.channels.filter((c) => replica === undefined || c.replica_id === replica).map((c) => c.channel).sort();
  }
}

export class FakeDataNode extends FakeNode implements DataNodeClient {
  WatchChannel(r: M.WatchChannelRequest): Promise<M.StatusResponse> {
    return this.handle('WatchChannel', r, () => {
      if (!this.channels.some((c) => c.channel === r.channel)) {
        this.channels.push({ collection_id: r.collection_id, channel: r.channel, replica_id: 0, consumed_offset: r.from_offset, watermark: 0, growing_rows: 0, serviceable: true });
      }
    });
  }

  UnwatchChannel(r: M.ChannelRequest): Promise<M.StatusResponse> {
    return this.handle('UnwatchChannel', r, () => {
      this.channels = this.channels.filter((c) => c.channel !== r.channel);
    });
  }

  BuildIndexes(r: M.BuildIndexesRequest): Promise<M.StatusResponse> {
    return this.handle('BuildIndexes', r, () => undefined);
  }

  Compact(r: M.CompactPlanRequest): Promise<M.StatusResponse> {
    return this.handle('Compact', r, () => undefined);
  }

  Import(r: M.ImportTaskRequest): Promise<M.StatusResponse> {
    return this.handle('Import', r, () => undefined);
  }
}

/** A set of fake nodes reachable by address `fake:<id>`. */
export class FakeCluster implements NodeConnector {
  readonly queryNodes = new Map<number, FakeQueryNode>();
  readonly dataNodes = new Map<number, FakeDataNode>();
  private readonly segs = new Map<string, SegmentMeta>();

  addSegment(s: SegmentMeta): void {
    this.segs.set(`${s.collectionID}/${s.segmentID}`, s);
  }

  /** A query node's fake (made on first use) and its session record. */
  queryNodeSession(id: number, stopping = false): SessionInfo {
    if (!this.queryNodes.has(id)) this.queryNodes.set(id, new FakeQueryNode(id, (c, s) => this.segs.get(`${c}/${s}`)));
    return { serverID: id, role: 'querynode', address: `fake:${id}`, metricsAddress: '', version: 'test', startedAt: 0, stopping };
  }

  dataNodeSession(id: number): SessionInfo {
    if (!this.dataNodes.has(id)) this.dataNodes.set(id, new FakeDataNode(id));
    return { serverID: id, role: 'datanode', address: `fake:${id}`, metricsAddress: '', version: 'test', startedAt: 0, stopping: false };
  }

  qn(id: number): FakeQueryNode {
    const n = this.queryNodes.get(id);
    if (!n) throw new Error(`no fake query node ${id}`);
    return n;
  }

  queryNode(address: string): QueryNodeClient {
    return this.qn(Number(address.slice('fake:'.length)));
  }

  dataNode(address: string): DataNodeClient {
    const n = this.dataNodes.get(Number(address.slice('fake:'.length)));
    if (!n) throw new Error(`no fake data node at ${address}`);
    return n;
  }
}

/** A collection record with one FloatVector-free schema (the checkers read ids, channels and load state only). */
export function collection(id: number, shards: number, replicaNumber: number | undefined): CollectionMeta {
  return {
    collectionID: id,
    name: `c${id}`,
    description: '',
    fields: [],
    enableDynamicField: false,
    shardsNum: shards,
    topic: `kite-dml-${id}`,
    partitions: [{ partitionID: id + 1, name: '_default', createdTs: '0' }],
    indexes: [],
    consistencyLevel: 'Bounded',
    properties: {},
    createdTs: '0',
    ...(replicaNumber ? { load: { replicaNumber, all: true, partitionIDs: [] } } : {}),
  };
}

/** A flushed segment of `collection` on its channel `shard`, covering offsets [start, start + rows). */
export function segment(collection: CollectionMeta, id: number, shard: number, start: number, rows: number): SegmentMeta {
  return {
    segmentID: id,
    collectionID: collection.collectionID,
    channel: `${collection.topic}#${shard}`,
    startOffset: start,
    endOffset: start + rows,
    numRows: rows,
    dataKey: rows ? `collections/${collection.collectionID}/${id}` : '',
    deltaKey: '',
    numDeletes: 0,
    indexes: [],
    maxTs: '0',
    createdAt: 0,
  };
}
