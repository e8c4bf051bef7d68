/**
 * The web UI's data: one JSON document describing the cluster, assembled by the proxy from the sessions and task
 * records in the meta store and from the active coordinator's view (GetClusterView: what each node serves, load
 * states, replicas, the scheduler's tasks and recent events). A part that cannot be read in time is left out and
 * named in `errors`, so the page still shows the rest (e.g. the sessions while no coordinator is active).
 */
import { clip, toKiteError } from '@kite/common';
import { beforeDeadline, type ClusterViewResponse } from '@kite/rpc';
import { codecs, importDone, keys, type Role, type SessionRecord } from '@kite/segment';
import type { ProxyCore } from '../core';

/** Events the page asks the coordinator for (its ring keeps more). */
export const PAGE_EVENTS = 200;

export interface ClusterNode {
  id: number;
  role: Role;
  address: string;
  /** serving | stopping (the session), or the coordinator's view of a worker: joining | healthy | suspect | stopping (unknown without it). */
  state: string;
  /** When its session started (ms since the epoch). */
  startedAt: number;
  version: string;
  /** A coordinator: whether it is the active one. */
  active?: boolean;
  segments: { id: number; collection: string; collectionId: number; replica: number; rows: number; channel: string }[];
  channels: { channel: string; collection: string; collectionId: number; replica: number; serviceable: boolean; growingRows: number }[];
}

export interface ClusterCollection {
  id: number;
  name: string;
  db: string;
  loadState: string;
  progress: number;
  replicas: { id: number; nodes: number[] }[];
  segments: number;
  rows: number;
}

export interface ClusterTask {
  kind: string;
  state: string;
  node: number;
  collection: string;
  createdAt: number;
  detail: string;
}

export interface ClusterEventJson {
  seq: number;
  at: number;
  kind: string;
  node: number;
  collection: string;
  message: string;
}

export interface ClusterJson {
  generatedAt: number;
  /** Milliseconds the whole document took to assemble. */
  tookMs: number;
  coordinator: { id: number; address: string; startedAt: number } | null;
  nodes: ClusterNode[];
  collections: ClusterCollection[];
  tasks: ClusterTask[];
  events: ClusterEventJson[];
  /** Parts that could not be read, each naming what and why. */
  errors: string[];
}

const ROLE_ORDER: Role[] = ['querycoord', 'proxy', 'querynode', 'datanode'];
const SESSION_KEY = /\/session\/(proxy|querycoord|querynode|datanode)-\d+$/;

export async function clusterJson(core: ProxyCore, deadline: number): Promise<ClusterJson> {
  const started = Date.now();
  const errors: string[] = [];
  const root = core.cfg.common.rootPath;
  const part = async <T>(what: string, p: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await beforeDeadline(p(), deadline, what);
    } catch (e) {
      errors.push(`${what}: ${clip(toKiteError(e).message, 300)}`);
      return undefined;
    }
  };
  const [sessionsRes, view, plansRes, importsRes] = await Promise.all([
    part('sessions', () => core.store.getPrefix(keys.sessions(root))),
    part('coordinator view', async (): Promise<ClusterViewResponse> => core.coordinator.api().GetClusterView({ max_events: PAGE_EVENTS }, core.coordinator.within(deadline))),
    part('compaction plans', () => core.store.getPrefix(keys.compactionPlans(root))),
    part('import tasks', () => core.store.getPrefix(keys.importTasks(root))),
  ]);

  const collName = (id: number): string => (id === 0 ? '' : (core.meta.byID(id)?.name ?? String(id)));

  // Sessions: every registered process; the active coordinator's exclusive key names which coordinator serves.
  const sessions: SessionRecord[] = [];
  let coordinator: ClusterJson['coordinator'] = null;
  for (const kv of sessionsRes?.kvs ?? []) {
    try {
      if (kv.key === keys.coordinatorSession(root)) {
        const a = codecs.activeCoordinator.decode(kv.value, kv.key);
        coordinator = { id: a.serverID, address: a.address, startedAt: a.startedAt };
      } else if (SESSION_KEY.test(kv.key)) sessions.push(codecs.session.decode(kv.value, kv.key));
    } catch (e) {
      errors.push(`session ${kv.key}: ${clip(toKiteError(e).message, 200)}`);
    }
  }
  const viewed = new Map((view?.nodes ?? []).map((n) => [n.node_id, n]));
  const nodes: ClusterNode[] = sessions.map((s) => {
    const v = viewed.get(s.serverID);
    const worker = s.role === 'querynode' || s.role === 'datanode';
    return {
      id: s.serverID,
      role: s.role,
      address: s.address,
      // A worker the coordinator does not list yet is joining; without the coordinator's view its state is unknown.
      state: worker ? (v ? v.state : view ? 'joining' : 'unknown') : s.stopping ? 'stopping' : 'serving',
      startedAt: s.startedAt,
      version: s.version,
      ...(s.role === 'querycoord' ? { active: coordinator?.id === s.serverID } : {}),
      segments: (v?.segments ?? [])
        .map((x) => ({ id: x.segment_id, collection: collName(x.collection_id), collectionId: x.collection_id, replica: x.replica_id, rows: x.num_rows, channel: x.channel }))
        .sort((a, b) => a.id - b.id),
      channels: (v?.channels ?? []).map((c) => ({
        channel: c.channel, collection: collName(c.collection_id), collectionId: c.collection_id, replica: c.replica_id, serviceable: c.serviceable, growingRows: c.growing_rows,
      })),
    };
  });
  nodes.sort((a, b) => ROLE_ORDER.indexOf(a.role) - ROLE_ORDER.indexOf(b.role) || a.id - b.id);

  // Collections: every one in the catalogue; load state and replicas from the coordinator for the loaded ones.
  const loaded = new Map((view?.collections ?? []).map((c) => [c.collection_id, c]));
  const held = new Map<number, { segments: Set<number>; rows: number }>();
  for (const n of nodes) {
    if (n.role !== 'querynode') continue;
    for (const s of n.segments) {
      const h = held.get(s.collectionId) ?? { segments: new Set<number>(), rows: 0 };
      if (!h.segments.has(s.id)) h.rows += s.rows;
      h.segments.add(s.id);
      held.set(s.collectionId, h);
    }
  }
  const collections: ClusterCollection[] = core.meta
    .allDatabases()
    .flatMap((d) => core.meta.all(d.name).map((c) => ({ c, db: d.name })))
    .map(({ c, db }) => {
      const l = loaded.get(c.collectionID);
      const h = held.get(c.collectionID);
      return {
        id: c.collectionID,
        name: c.name,
        db,
        loadState: l?.load_state ?? (c.load ? (view ? 'Loading' : 'unknown') : 'NotLoad'),
        progress: l?.progress ?? 0,
        replicas: (l?.replicas ?? []).map((r) => ({ id: r.replica_id, nodes: [...r.node_ids].sort((a, b) => a - b) })),
        segments: h?.segments.size ?? 0,
        rows: h?.rows ?? 0,
      };
    })
    .sort((a, b) => a.db.localeCompare(b.db) || a.name.localeCompare(b.name));

  // Tasks: the coordinator's scheduler (loads, releases, delegators, index builds), executing compaction plans and
  // bulk imports not done.
  const tasks: ClusterTask[] = (view?.tasks ?? []).map((t) => ({
    kind: t.kind === 'index' ? 'index build' : t.kind, state: t.state, node: t.node_id, collection: collName(t.collection_id), createdAt: t.created_ms, detail: t.detail,
  }));
  for (const kv of plansRes?.kvs ?? []) {
    try {
      const p = codecs.compactionPlan.decode(kv.value, kv.key);
      if (p.state !== 'executing') continue;
      tasks.push({ kind: 'compaction', state: 'executing', node: 0, collection: collName(p.collectionID), createdAt: p.createdAt, detail: `plan ${p.planID} (${p.type}) on ${p.channel}: segments ${p.sources.join(', ')}${p.reason ? ` (${p.reason})` : ''}` });
    } catch (e) {
      errors.push(`compaction plan ${kv.key}: ${clip(toKiteError(e).message, 200)}`);
    }
  }
  for (const kv of importsRes?.kvs ?? []) {
    try {
      const t = codecs.importTask.decode(kv.value, kv.key);
      if (importDone(t)) continue;
      tasks.push({ kind: 'import', state: t.state, node: 0, collection: t.collectionName, createdAt: t.createdAt, detail: `task ${t.taskID}: ${t.files.length} file(s), ${t.rowCount} rows read, ${t.attempts} run(s)` });
    } catch (e) {
      errors.push(`import task ${kv.key}: ${clip(toKiteError(e).message, 200)}`);
    }
  }
  tasks.sort((a, b) => a.createdAt - b.createdAt);

  const events: ClusterEventJson[] = (view?.events ?? []).map((e) => ({ seq: e.seq, at: e.at_ms, kind: e.kind, node: e.node_id, collection: collName(e.collection_id), message: e.message }));
  const generatedAt = Date.now();
  return { generatedAt, tookMs: generatedAt - started, coordinator, nodes, collections, tasks, events, errors };
}
