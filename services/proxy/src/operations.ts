import * as os from 'node:os';
import { KiteError, clip } from '@kite/common';
import type { FlushAllState, PersistentSegmentInfo, QuerySegmentInfo } from '@kite/proto';
import { localBinding, type NodePlacement } from '@kite/rpc';
import { codecs, dimOf, keys, vectorBytesOf, type CollectionMeta, type FieldMeta, type Role, type SegmentMeta, type SessionRecord } from '@kite/segment';
import { KITE_VERSION } from '@kite/session';
import type { Handlers, ProxyCore } from './core';
import type { RequestContext } from './request';
import { OK } from './status';
import { flushCollection, flushedSince } from './write';

/** Bytes a row of a fixed-width scalar takes in memory; variable-width types are estimated at VARIABLE_BYTES. */
const FIXED_BYTES: Record<string, number> = { Bool: 1, Int8: 1, Int16: 2, Int32: 4, Int64: 8, Float: 4, Double: 8, Timestamptz: 8 };
const VARIABLE_BYTES = 32;

/** A query node's estimate of a loaded segment's memory: its index files, plus raw columns not served by one. */
function memSize(c: CollectionMeta, s: SegmentMeta): number {
  const indexed = new Set(s.indexes.map((f) => f.fieldName));
  let bytes = s.indexes.reduce((n, f) => n + f.bytes, 0);
  const width = (f: FieldMeta): number => {
    if (f.dataType === 'FloatVector' || f.dataType === 'Float16Vector' || f.dataType === 'BFloat16Vector' || f.dataType === 'BinaryVector' || f.dataType === 'Int8Vector') {
      return indexed.has(f.name) || dimOf(f) <= 0 ? 0 : vectorBytesOf(f);
    }
    return FIXED_BYTES[f.dataType] ?? VARIABLE_BYTES;
  };
  for (const f of c.fields) bytes += s.numRows * width(f);
  return bytes;
}

/** Segments replaced by a compaction whose result is stored: no longer part of the collection's data. */
function replaced(segs: readonly SegmentMeta[]): Set<number> {
  return new Set(segs.flatMap((s) => s.compaction?.sources ?? []));
}

/** Node ids as the request carries them (int64 as decimal text): positive safe integers, or a refusal naming `field`. */
function nodeIds(values: readonly unknown[], field: string): number[] {
  return values.map((v) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n <= 0) throw new KiteError('ParameterInvalid', `${field}: ${clip(String(v), 64)} is not a node id (a positive integer, as GetQuerySegmentInfo or GetMetrics list them)`);
    return n;
  });
}

// ---------------------------------------------------------------- GetMetrics (system_info)

/** The JSON keys Milvus's metricsinfo package writes for a system topology (Milvus 2.3/2.4). */
interface ConnectionEdge {
  connected_identifier: number;
  type: 'manage' | 'forward';
  target_type: string;
}
interface ComponentInfos {
  has_error: boolean;
  error_reason: string;
  name: string;
  hardware_infos: { ip: string; cpu_core_count: number; cpu_core_usage: number; memory: number; memory_usage: number; disk: number; disk_usage: number };
  system_info: { system_version: string; deploy_mode: string; build_version: string; build_time: string; used_go_version: string };
  created_time: string;
  updated_time: string;
  type: string;
  id: number;
  system_configurations: Record<string, unknown>;
}
interface TopologyNode {
  identifier: number;
  connected: ConnectionEdge[];
  infos: ComponentInfos;
}

/** Milvus's role names, as the topology's `type` and the prefix of a component's `name`. */
const MILVUS_ROLE: Record<Role, string> = { proxy: 'proxy', querycoord: 'querycoord', querynode: 'querynode', datanode: 'datanode' };
/** Which roles a role's node connects to in the topology: a proxy forwards to the coordinator, which manages the nodes. */
const EDGES: Partial<Record<Role, { to: Role; type: ConnectionEdge['type'] }[]>> = {
  proxy: [{ to: 'querycoord', type: 'forward' }],
  querycoord: [{ to: 'querynode', type: 'manage' }, { to: 'datanode', type: 'manage' }],
};

const hostOf = (address: string): string => {
  const m = /^\[?([^\]]*)\]?:\d+$/.exec(address);
  return m ? m[1]! : address;
};

/** Host names and addresses of this machine (its hardware is what this process can measure). */
function localHosts(): Set<string> {
  const out = new Set(['localhost', '0.0.0.0', '::', '', os.hostname()]);
  for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) out.add(a.address);
  return out;
}

/**
 * Hardware figures of a node: measured for this machine (nodes whose address is local: one process in standalone,
 * or processes sharing the host), zero for nodes on other machines (they are not asked; the `ip` still names them).
 * CPU usage is the one-minute load average as a percentage of the cores, memory usage the machine's used memory.
 */
function hardware(address: string, local: Set<string>): ComponentInfos['hardware_infos'] {
  const ip = hostOf(address);
  if (!local.has(ip) && !ip.startsWith('127.')) return { ip, cpu_core_count: 0, cpu_core_usage: 0, memory: 0, memory_usage: 0, disk: 0, disk_usage: 0 };
  const cores = os.cpus().length;
  const usage = cores > 0 ? Math.min(100, (os.loadavg()[0]! / cores) * 100) : 0;
  return { ip, cpu_core_count: cores, cpu_core_usage: Math.round(usage * 100) / 100, memory: os.totalmem(), memory_usage: os.totalmem() - os.freemem(), disk: 0, disk_usage: 0 };
}

/** A time as Milvus prints it in metrics (Go's time.Time String without the monotonic part). */
const timeText = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').replace('Z', ' +0000 UTC');

/** The system topology: every registered process of the cluster, as sessions in the meta store name them. */
async function systemTopology(core: ProxyCore): Promise<{ nodes_info: TopologyNode[] }> {
  const res = await core.store.getPrefix(keys.sessions(core.cfg.common.rootPath));
  const sessions: SessionRecord[] = [];
  for (const kv of res.kvs) {
    // The coordinator's exclusive key holds another record; only per-process sessions describe nodes.
    if (!/\/session\/(proxy|querycoord|querynode|datanode)-\d+$/.test(kv.key)) continue;
    sessions.push(codecs.session.decode(kv.value, kv.key));
  }
  // Standalone: one proxy, and every other component served inside this process (internal.inProcessCalls).
  const probe: Record<Exclude<Role, 'proxy'>, [string, string]> = { querycoord: ['QueryCoord', 'GetPlacement'], querynode: ['QueryNode', 'GetDistribution'], datanode: ['DataNode', 'GetDistribution'] };
  const inProcess = (s: SessionRecord): boolean => s.role !== 'proxy' && localBinding(s.address, ...probe[s.role]) !== undefined;
  const deployMode = sessions.filter((s) => s.role === 'proxy').length === 1 && sessions.every((s) => s.role === 'proxy' || inProcess(s)) ? 'STANDALONE' : 'DISTRIBUTED';
  const local = localHosts();
  const now = timeText(Date.now());
  const order: Role[] = ['proxy', 'querycoord', 'querynode', 'datanode'];
  sessions.sort((a, b) => order.indexOf(a.role) - order.indexOf(b.role) || a.serverID - b.serverID);
  const nodes_info = sessions.map((s): TopologyNode => ({
    identifier: s.serverID,
    connected: (EDGES[s.role] ?? []).flatMap((e) =>
      sessions.filter((t) => t.role === e.to).map((t) => ({ connected_identifier: t.serverID, type: e.type, target_type: MILVUS_ROLE[t.role] })),
    ),
    infos: {
      has_error: s.stopping,
      error_reason: s.stopping ? 'stopping' : '',
      name: `${MILVUS_ROLE[s.role]}${s.serverID}`,
      hardware_infos: hardware(s.address, local),
      system_info: { system_version: s.version || KITE_VERSION, deploy_mode: deployMode, build_version: s.version || KITE_VERSION, build_time: '', used_go_version: `node ${process.version}` },
      created_time: timeText(s.startedAt),
      updated_time: now,
      type: MILVUS_ROLE[s.role],
      id: s.serverID,
      system_configurations: {},
    },
  }));
  return { nodes_info };
}

// ---------------------------------------------------------------- handlers

/**
 * Operations: FlushAll and GetFlushAllState, GetPersistentSegmentInfo, GetQuerySegmentInfo, LoadBalance, and
 * GetMetrics for `system_info` (docs/milvus-wire-notes.md, "Operations").
 */
export function operationHandlers(core: ProxyCore): Handlers {
  const root = core.cfg.common.rootPath;

  /** The collection a segment-information request names (`collectionName`, in `dbName` or the call's database). */
  async function named(r: { collectionName?: string; dbName?: string }, ctx: RequestContext): Promise<CollectionMeta> {
    if (!r.collectionName) throw new KiteError('ParameterMissing', 'collectionName is empty: name the collection whose segments to list');
    const db = r.dbName || ctx.db;
    await core.database(ctx, db);
    return core.collection(r.collectionName, { ...ctx, db });
  }

  async function storedSegments(c: CollectionMeta): Promise<SegmentMeta[]> {
    const res = await core.store.getPrefix(keys.segments(root, c.collectionID));
    const segs = res.kvs.map((kv) => codecs.segment.decode(kv.value, kv.key));
    const gone = replaced(segs);
    // Segments of deletes only (no rows) hold offsets of the channel, not data: they are not listed.
    return segs.filter((s) => !gone.has(s.segmentID) && s.numRows > 0).sort((a, b) => a.segmentID - b.segmentID);
  }

  const partitionOf = (c: CollectionMeta, s: SegmentMeta): string => String(s.partitionIDs?.length === 1 ? s.partitionIDs[0] : (s.partitionIDs?.[0] ?? c.partitions[0]?.partitionID ?? 0));

  /** The collections a FlushAll (or its state) covers: those of `db_name`, or of every database when it is empty. */
  async function scope(dbName: string, targets: readonly { db_name: string; collection_names: string[] }[], ctx: RequestContext): Promise<Map<string, CollectionMeta[]>> {
    const out = new Map<string, CollectionMeta[]>();
    if (targets.length > 0) {
      for (const t of targets) {
        const db = t.db_name || ctx.db;
        await core.database(ctx, db);
        const list = t.collection_names.length > 0 ? await Promise.all(t.collection_names.map((n) => core.collection(n, { ...ctx, db }))) : core.meta.all(db);
        out.set(db, [...(out.get(db) ?? []), ...list]);
      }
      return out;
    }
    if (dbName) {
      await core.database(ctx, dbName);
      out.set(dbName, core.meta.all(dbName));
      return out;
    }
    for (const d of core.meta.allDatabases()) out.set(d.name, core.meta.all(d.name));
    return out;
  }

  return {
    /** Flushes every collection of the scope with one timestamp: the flush_all_ts GetFlushAllState checks against. */
    async FlushAll(r, ctx) {
      const collections = await scope(r.db_name ?? '', r.flush_targets ?? [], ctx);
      const ts = await core.tso.alloc(ctx.deadline);
      const sealTime = String(Math.floor(Date.now() / 1000));
      const flushResults = [];
      for (const [db, list] of collections) {
        await Promise.all(list.map((c) => flushCollection(core, c, ts, ctx.deadline)));
        flushResults.push({ db_name: db, collection_results: list.map((c) => ({ collection_name: c.name, segment_ids: { data: [] }, flush_segment_ids: { data: [] }, seal_time: sealTime, flush_ts: ts.toString() })) });
      }
      return { status: OK, flush_all_ts: ts.toString(), flush_results: flushResults };
    },

    /**
     * Whether every collection of the scope that existed at flush_all_ts has flushed what was written before it
     * (each channel checkpointed at flush_all_ts or later, or with nothing left to consume).
     */
    async GetFlushAllState(r, ctx) {
      // Milvus 2.6 clients may send a timestamp per channel instead (flush_all_tss): the latest covers them all.
      const texts = [String(r.flush_all_ts ?? '0'), ...Object.values(r.flush_all_tss ?? {}).map(String)];
      const bad = texts.find((t) => !/^\d+$/.test(t));
      if (bad !== undefined) throw new KiteError('ParameterInvalid', `flush_all_ts ${clip(bad, 64)} is not a timestamp: pass the flush_all_ts FlushAll returned`);
      const ts = texts.map(BigInt).reduce((a, b) => (b > a ? b : a), 0n);
      if (ts === 0n) throw new KiteError('ParameterInvalid', 'flush_all_ts is 0: pass the flush_all_ts FlushAll returned');
      const collections = await scope(r.db_name ?? '', r.flush_targets ?? [], ctx);
      let flushed = true;
      const states: FlushAllState[] = [];
      for (const [db, list] of collections) {
        const perCollection: Record<string, boolean> = {};
        for (const c of list) {
          if (BigInt(c.createdTs) > ts) continue;
          const done = await flushedSince(core, c, ts);
          perCollection[c.name] = done;
          flushed &&= done;
        }
        states.push({ db_name: db, collection_flush_states: perCollection });
      }
      return { status: OK, flushed, flush_states: states };
    },

    /**
     * The collection's stored segments: every one is flushed (written to object storage with its offsets
     * checkpointed). Rows not flushed yet are in the WAL, served by the delegators, and belong to no segment until
     * a flush seals them. Segments a compaction replaced are left out.
     */
    async GetPersistentSegmentInfo(r, ctx) {
      const c = await named(r, ctx);
      const infos: PersistentSegmentInfo[] = (await storedSegments(c)).map((s) => ({
        segmentID: String(s.segmentID),
        collectionID: String(c.collectionID),
        partitionID: partitionOf(c, s),
        num_rows: String(s.numRows),
        state: 'Flushed',
        level: 'L1',
        is_sorted: false,
        storage_version: '0',
      }));
      return { status: OK, infos };
    },

    /** The sealed segments query nodes hold for the loaded collection, one entry per segment with every holder. */
    async GetQuerySegmentInfo(r, ctx) {
      const c = await named(r, ctx);
      if (!c.load) throw new KiteError('CollectionNotLoaded', `collection not loaded[collection=${c.name}]: load it to see its segments on query nodes`);
      const res = await core.coordinator.api().GetPlacement({ collection_id: c.collectionID }, core.coordinator.within(ctx.deadline));
      const stored = new Map((await storedSegments(c)).map((s) => [s.segmentID, s]));
      const holders = new Map<number, number[]>();
      for (const n of res.nodes as NodePlacement[]) {
        if (n.role !== 'querynode') continue;
        for (const s of n.segments) holders.set(s.segment_id, [...(holders.get(s.segment_id) ?? []), n.node_id]);
      }
      const infos: QuerySegmentInfo[] = [];
      for (const [id, nodes] of [...holders].sort((a, b) => a[0] - b[0])) {
        const s = stored.get(id);
        if (!s) continue;
        const idx = c.indexes.find((i) => s.indexes.some((f) => f.indexID === i.indexID));
        infos.push({
          segmentID: String(id),
          collectionID: String(c.collectionID),
          partitionID: partitionOf(c, s),
          mem_size: String(memSize(c, s)),
          num_rows: String(s.numRows),
          index_name: idx?.indexName ?? '',
          indexID: String(idx?.indexID ?? 0),
          nodeID: String(nodes[0]),
          nodeIds: nodes.sort((a, b) => a - b).map(String),
          state: 'Sealed',
          level: 'L1',
        });
      }
      return { status: OK, infos };
    },

    /** Moves sealed segments off src_nodeID (docs/architecture.md, "Load balance"); answers once they moved. */
    async LoadBalance(r, ctx) {
      if (!r.collectionName) throw new KiteError('ParameterMissing', 'collectionName is empty: name the loaded collection whose segments to move');
      const [src] = nodeIds([r.src_nodeID ?? '0'], 'src_nodeID');
      const dsts = nodeIds(r.dst_nodeIDs ?? [], 'dst_nodeIDs');
      const segs = (r.sealed_segmentIDs ?? []).map((v) => {
        const n = Number(v);
        if (!Number.isSafeInteger(n) || n <= 0) throw new KiteError('ParameterInvalid', `sealed_segmentIDs: ${clip(String(v), 64)} is not a segment id (GetQuerySegmentInfo lists them)`);
        return n;
      });
      const c = await core.collection(r.collectionName, ctx);
      const within = core.coordinator.within(ctx.deadline);
      await core.coordinator.api().LoadBalance({ collection_id: c.collectionID, src_node: src!, dst_nodes: dsts, segment_ids: segs, timeout_ms: within.timeoutMs }, within);
      return OK;
    },

    /** `{"metric_type": "system_info"}`: the cluster's topology in Milvus's metricsinfo JSON; other types are refused. */
    async GetMetrics(r) {
      let req: unknown;
      try {
        req = JSON.parse(r.request ?? '');
      } catch {
        throw new KiteError('ParameterInvalid', `request is not JSON: pass {"metric_type": "system_info"}`);
      }
      const type = typeof req === 'object' && req !== null ? (req as Record<string, unknown>).metric_type : undefined;
      if (typeof type !== 'string' || type === '') throw new KiteError('ParameterInvalid', 'request has no metric_type: pass {"metric_type": "system_info"}');
      if (type !== 'system_info') throw new KiteError('ParameterInvalid', `metric_type ${clip(type, 64)} is not supported: Kite answers "system_info" (its Prometheus metrics are on each process's metrics port)`);
      return { status: OK, response: JSON.stringify(await systemTopology(core)), component_name: 'proxy' };
    },
  };
}
