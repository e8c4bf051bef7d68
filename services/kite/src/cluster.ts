import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import YAML from 'yaml';
import { freePort, KiteError } from '@kite/common';
import { connect, useInternalSecret, type NodePlacement } from '@kite/rpc';

/**
 * `kite cluster up|down|status`: etcd, a Kafka broker and every component as separate background processes on
 * loopback, with logs under `<dataDir>/logs` and the layout written to `<dataDir>/cluster.json` (docs/deploy.md,
 * "A local cluster"). `--etcd-members N` and `--kafka-brokers N` replicate the two (docs/failover.md, "Replicated
 * etcd and Kafka").
 */

export interface ComponentEntry {
  role: string;
  serverID: number;
  pid: number;
  grpc: number;
  metrics: number;
  log: string;
}

export interface ClusterFile {
  dataDir: string;
  proxy: { grpc: number; metrics: number };
  /** The first member's pid and ports; `members` lists every member when there are several. */
  etcd: { endpoints: string[]; pid: number; clientPort: number; peerPort: number; members?: EtcdMember[] };
  /** The first broker's pid and ports; `nodes` lists every broker when there are several. */
  kafka: { brokers: string[]; pid: number; port: number; controllerPort: number; nodes?: KafkaNode[] };
  components: ComponentEntry[];
  startedAt: string;
  upSeconds: number;
}

/** One member of a replicated etcd. */
export interface EtcdMember {
  name: string;
  pid: number;
  clientPort: number;
  peerPort: number;
  log: string;
}

/** One combined broker+controller of a replicated Kafka. */
export interface KafkaNode {
  nodeId: number;
  pid: number;
  port: number;
  controllerPort: number;
  log: string;
}

export interface UpOptions {
  dataDir: string;
  querynodes: number;
  datanodes: number;
  proxies: number;
  port: number;
  sessionTtlSeconds?: number;
  /** etcd members (1 or 3; default 1): 3 survive the loss of any one. */
  etcdMembers?: number;
  /** Kafka brokers (1 or 3; default 1): 3 replicate every topic 3 times with min.insync.replicas 2. */
  kafkaBrokers?: number;
  /** KITE_LOG_LEVEL for the components (else they inherit this process's environment). */
  logLevel?: string;
  /** Called with a line as each process starts and when it is ready ("querynode 2/3 ready in 1.2 s"). */
  progress?: (line: string) => void;
}

/**
 * How long `cluster up` and `cluster down` wait for the local processes they launch. These are the command's own
 * bounds on a developer machine (the cluster's processes take their settings from the config file it writes), so
 * they are not configuration keys; they are generous for a busy 2-core machine.
 */
const WAIT = {
  /** etcd accepting connections. */
  etcdUpMs: 30_000,
  /** Kafka (KRaft) accepting connections: its JVM starts slowly. */
  kafkaUpMs: 90_000,
  /** Each component answering /ready (a coordinator: /healthz). */
  componentUpMs: 60_000,
  /** A component's graceful stop after SIGTERM before SIGKILL (all of a role stop at once, so no hand-over waits). */
  componentStopMs: 20_000,
  kafkaStopMs: 30_000,
  etcdStopMs: 10_000,
  /** Between checks of a launched process. */
  pollMs: 100,
  /** One TCP connect attempt. */
  connectMs: 500,
  /** One HTTP probe of /ready. */
  probeMs: 1000,
} as const;

const REPO = path.resolve(__dirname, '..', '..', '..');
const KITE_BIN = path.join(REPO, 'bin', 'kite');


function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(WAIT.connectMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

function getJson(port: number, p: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, timeout: WAIT.probeMs }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
        } catch {
          resolve({ status: res.statusCode ?? 0, body: {} });
        }
      });
    });
    req.on('error', () => resolve({ status: 0, body: {} }));
    req.on('timeout', () => req.destroy());
  });
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(what: string, pid: number, log: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    if (!alive(pid)) throw new KiteError('ServiceUnavailable', `${what} exited during start-up; see ${log}`);
    await new Promise((r) => setTimeout(r, WAIT.pollMs));
  }
  throw new KiteError('ServiceUnavailable', `${what} was not ready within ${timeoutMs / 1000} s; see ${log}`);
}

function launch(command: string, args: string[], log: string, env: NodeJS.ProcessEnv = {}): number {
  const fd = fs.openSync(log, 'a');
  const child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, ...env }, cwd: REPO });
  fs.closeSync(fd);
  child.unref();
  if (!child.pid) throw new KiteError('ServiceUnavailable', `cannot start ${command}`);
  return child.pid;
}

function readCluster(dataDir: string): ClusterFile | undefined {
  const file = path.join(dataDir, 'cluster.json');
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as ClusterFile) : undefined;
}

function backendPids(c: ClusterFile): number[] {
  return [...(c.kafka.nodes?.map((n) => n.pid) ?? [c.kafka.pid]), ...(c.etcd.members?.map((m) => m.pid) ?? [c.etcd.pid])];
}

function pids(c: ClusterFile): number[] {
  return [...backendPids(c), ...c.components.map((x) => x.pid)];
}

/**
 * Free ports for one `cluster up`, each distinct and none of those already spoken for (the `--port` given, ports a
 * restart reuses). The kernel hands a just-released port out again, so without this etcd could be given the port
 * the caller chose for the proxy, which then fails to bind.
 */
function portPicker(taken: (number | undefined)[]): () => Promise<number> {
  const used = new Set(taken.filter((p): p is number => p !== undefined));
  return async () => {
    for (;;) {
      const p = await freePort();
      if (!used.has(p)) {
        used.add(p);
        return p;
      }
    }
  };
}

export async function clusterUp(o: UpOptions): Promise<ClusterFile> {
  const t0 = Date.now();
  const dir = path.resolve(o.dataDir);
  const logs = path.join(dir, 'logs');
  fs.mkdirSync(logs, { recursive: true });
  const prev = readCluster(dir);
  if (prev && pids(prev).some(alive)) {
    throw new KiteError('ParameterInvalid', `a cluster already runs on ${dir} (see cluster.json); run "kite cluster down --data-dir ${dir}" first`);
  }
  // etcd keeps its peer URL in its data, so a restart on the same data dir reuses the ports it had.
  const prevEtcd = prev ? (prev.etcd.members ?? [{ name: 'kite', pid: prev.etcd.pid, clientPort: prev.etcd.clientPort, peerPort: prev.etcd.peerPort, log: '' }]) : undefined;
  const prevKafka = prev ? (prev.kafka.nodes ?? [{ nodeId: 1, pid: prev.kafka.pid, port: prev.kafka.port, controllerPort: prev.kafka.controllerPort, log: '' }]) : undefined;
  // A restart without the flags keeps the sizes the data dir was started with.
  const etcdCount = memberCount(o.etcdMembers ?? prevEtcd?.length, '--etcd-members');
  const kafkaCount = memberCount(o.kafkaBrokers ?? prevKafka?.length, '--kafka-brokers');
  if ((prevEtcd && prevEtcd.length !== etcdCount) || (prevKafka && prevKafka.length !== kafkaCount)) {
    throw new KiteError(
      'ParameterInvalid',
      `${dir} holds a cluster of ${prevEtcd?.length} etcd members and ${prevKafka?.length} Kafka brokers; start it with --etcd-members ${prevEtcd?.length} --kafka-brokers ${prevKafka?.length}, or use a new --data-dir`,
    );
  }
  const pick = portPicker([o.port, ...(prevEtcd ?? []).flatMap((m) => [m.clientPort, m.peerPort]), ...(prevKafka ?? []).flatMap((n) => [n.port, n.controllerPort])]);

  const say = o.progress ?? ((): void => undefined);
  /** Announces a process, waits for it to be ready, then says how long that took. */
  const starting = (name: string): (() => void) => {
    const t = Date.now();
    say(`starting ${name}`);
    return () => say(`${name} ready in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  };
  const etcdMembers = await planEtcd(etcdCount, logs, prevEtcd, pick);
  const kafkaNodes = await planKafka(kafkaCount, logs, prevKafka, pick);
  const launched: number[] = [];
  const etcdEndpoints = etcdMembers.map((m) => `http://127.0.0.1:${m.clientPort}`);
  const kafkaBrokers = kafkaNodes.map((n) => `127.0.0.1:${n.port}`);
  try {
    const etcdReady = starting(etcdCount > 1 ? `etcd (${etcdCount} members)` : 'etcd');
    for (const m of etcdMembers) launched.push((m.pid = launchEtcd(dir, m, etcdMembers)));
    const kafkaReady = starting(kafkaCount > 1 ? `Kafka (${kafkaCount} brokers)` : 'Kafka');
    const clusterId = kafkaClusterId();
    for (const n of kafkaNodes) launched.push((n.pid = launchKafka(dir, n, kafkaNodes, clusterId)));
    for (const m of etcdMembers) await waitFor(etcdCount > 1 ? `etcd ${m.name}` : 'etcd', m.pid, m.log, WAIT.etcdUpMs, () => canConnect(m.clientPort));
    etcdReady();
    for (const n of kafkaNodes) await waitFor(kafkaCount > 1 ? `Kafka node ${n.nodeId}` : 'Kafka', n.pid, n.log, WAIT.kafkaUpMs, () => canConnect(n.port));
    kafkaReady();
  } catch (e) {
    for (const p of launched) killQuietly(p);
    throw e;
  }
  const etcdPid = etcdMembers[0]!.pid;
  const kafkaPid = kafkaNodes[0]!.pid;
  const clientPort = etcdMembers[0]!.clientPort;
  const peerPort = etcdMembers[0]!.peerPort;
  const kafkaPort = kafkaNodes[0]!.port;
  const controllerPort = kafkaNodes[0]!.controllerPort;

  const config = {
    common: { dataDir: dir, rootPath: 'kite', ...(o.sessionTtlSeconds ? { sessionTtlSeconds: o.sessionTtlSeconds } : {}) },
    meta: { type: 'etcd', etcdEndpoints },
    wal: { type: 'kafka', kafkaBrokers },
    storage: { type: 'local', path: path.join(dir, 'objects') },
    // One cluster secret for every process (also those restarted later on this file): KITE_INTERNAL_SECRET when
    // set, else a fresh random one; the file is readable by its owner only.
    internal: { secret: process.env.KITE_INTERNAL_SECRET || randomBytes(32).toString('hex') },
  };
  const configFile = path.join(dir, 'kite.yaml');
  fs.writeFileSync(configFile, YAML.stringify(config), { mode: 0o600 });
  fs.chmodSync(configFile, 0o600);

  const components: ComponentEntry[] = [];
  const counts: Record<string, number> = { querycoord: 1, datanode: o.datanodes, querynode: o.querynodes, proxy: o.proxies };
  const start = async (role: string, i: number, grpcPort?: number): Promise<ComponentEntry> => {
    const grpc = grpcPort ?? (await pick());
    const metrics = await pick();
    const upper = role.toUpperCase();
    const log = path.join(logs, `${role}-${i}.log`);
    const ready = starting(`${role} ${i + 1}/${counts[role] ?? 1}`);
    const pid = launch(process.execPath, [KITE_BIN, role, '--config', configFile], log, {
      [`KITE_${upper}_PORT`]: String(grpc),
      [`KITE_${upper}_METRICS_PORT`]: String(metrics),
      ...(o.logLevel ? { KITE_LOG_LEVEL: o.logLevel } : {}),
    });
    let serverID = 0;
    await waitFor(`${role} ${i}`, pid, log, WAIT.componentUpMs, async () => {
      const r = await getJson(metrics, '/ready');
      serverID = Number(r.body.serverID ?? 0);
      return r.status === 200;
    });
    ready();
    const entry = { role, serverID, pid, grpc, metrics, log };
    components.push(entry);
    return entry;
  };
  try {
    await start('querycoord', 0);
    await Promise.all([
      ...Array.from({ length: o.datanodes }, (_, i) => start('datanode', i)),
      ...Array.from({ length: o.querynodes }, (_, i) => start('querynode', i)),
    ]);
    const proxies: ComponentEntry[] = [];
    for (let i = 0; i < o.proxies; i++) proxies.push(await start('proxy', i, i === 0 ? o.port : undefined));
    const first = proxies[0]!;
    const c: ClusterFile = {
      dataDir: dir,
      proxy: { grpc: first.grpc, metrics: first.metrics },
      etcd: { endpoints: etcdEndpoints, pid: etcdPid, clientPort, peerPort, ...(etcdCount > 1 ? { members: etcdMembers } : {}) },
      kafka: { brokers: kafkaBrokers, pid: kafkaPid, port: kafkaPort, controllerPort, ...(kafkaCount > 1 ? { nodes: kafkaNodes } : {}) },
      components,
      startedAt: new Date(t0).toISOString(),
      upSeconds: (Date.now() - t0) / 1000,
    };
    fs.writeFileSync(path.join(dir, 'cluster.json'), JSON.stringify(c, null, 2));
    return c;
  } catch (e) {
    for (const p of [...components.map((x) => x.pid), ...kafkaNodes.map((n) => n.pid), ...etcdMembers.map((m) => m.pid)]) killQuietly(p);
    throw e;
  }
}

async function stopPid(pid: number, graceMs: number): Promise<void> {
  if (!alive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, WAIT.pollMs));
  if (alive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

export async function clusterDown(dataDir: string): Promise<void> {
  const c = readCluster(path.resolve(dataDir));
  if (!c) throw new KiteError('ParameterInvalid', `no cluster.json under ${dataDir}: nothing to stop`);
  const order = ['proxy', 'querynode', 'datanode', 'querycoord'];
  for (const role of order) await Promise.all(c.components.filter((x) => x.role === role).map((x) => stopPid(x.pid, WAIT.componentStopMs)));
  await Promise.all((c.kafka.nodes?.map((n) => n.pid) ?? [c.kafka.pid]).map((p) => stopPid(p, WAIT.kafkaStopMs)));
  await Promise.all((c.etcd.members?.map((m) => m.pid) ?? [c.etcd.pid]).map((p) => stopPid(p, WAIT.etcdStopMs)));
}

export async function clusterStatus(dataDir: string): Promise<ClusterFile & { alive: Record<string, boolean> }> {
  const c = readCluster(path.resolve(dataDir));
  if (!c) throw new KiteError('ParameterInvalid', `no cluster.json under ${dataDir}`);
  const live: Record<string, boolean> = { etcd: alive(c.etcd.pid), kafka: alive(c.kafka.pid) };
  for (const m of c.etcd.members ?? []) live[`etcd-${m.name}`] = alive(m.pid);
  for (const n of c.kafka.nodes ?? []) live[`kafka-${n.nodeId}`] = alive(n.pid);
  for (const x of c.components) live[`${x.role}-${x.serverID}`] = alive(x.pid) && (await getJson(x.metrics, '/ready')).status === 200;
  return { ...c, alive: live };
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

/** `--etcd-members` / `--kafka-brokers`: 1 (no replication) or 3 (survives the loss of one). */
function memberCount(n: number | undefined, flag: string): number {
  const v = n ?? 1;
  if (v !== 1 && v !== 3) throw new KiteError('ParameterInvalid', `${flag} must be 1 or 3 (a quorum of 3 survives the loss of one), not ${v}`);
  return v;
}

/**
 * The etcd members of this start: their names, ports (those of `prev` on a restart: etcd keeps its peer URLs in its
 * data) and logs. One member keeps the single-node layout (name `kite`, `<dataDir>/etcd`, `logs/etcd.log`).
 */
async function planEtcd(n: number, logs: string, prev: EtcdMember[] | undefined, pick: () => Promise<number>): Promise<EtcdMember[]> {
  const out: EtcdMember[] = [];
  for (let i = 0; i < n; i++) {
    const name = n === 1 ? 'kite' : `kite-${i + 1}`;
    const p = prev?.[i];
    out.push({
      name,
      pid: 0,
      clientPort: p?.clientPort ?? (await pick()),
      peerPort: p?.peerPort ?? (await pick()),
      log: path.join(logs, n === 1 ? 'etcd.log' : `etcd-${i + 1}.log`),
    });
  }
  return out;
}

/** The Kafka nodes of this start (node ids 1..n); one keeps the single-node layout (`<dataDir>/kafka`, `logs/kafka.log`). */
async function planKafka(n: number, logs: string, prev: KafkaNode[] | undefined, pick: () => Promise<number>): Promise<KafkaNode[]> {
  const out: KafkaNode[] = [];
  for (let i = 0; i < n; i++) {
    const p = prev?.[i];
    out.push({
      nodeId: i + 1,
      pid: 0,
      port: p?.port ?? (await pick()),
      controllerPort: p?.controllerPort ?? (await pick()),
      log: path.join(logs, n === 1 ? 'kafka.log' : `kafka-${i + 1}.log`),
    });
  }
  return out;
}

/** One etcd member, its data in `<dataDir>/etcd` (one member) or `<dataDir>/etcd-<name>`; `all` is the initial cluster. */
function launchEtcd(dir: string, m: EtcdMember, all: EtcdMember[]): number {
  const client = `http://127.0.0.1:${m.clientPort}`;
  const peer = `http://127.0.0.1:${m.peerPort}`;
  const initial = all.map((x) => `${x.name}=http://127.0.0.1:${x.peerPort}`).join(',');
  return launch('etcd', [
    '--name', m.name, '--data-dir', path.join(dir, all.length === 1 ? 'etcd' : `etcd-${m.name}`),
    '--listen-client-urls', client, '--advertise-client-urls', client,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
    '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', 'kite',
    '--logger', 'zap', '--log-outputs', 'stderr',
  ], m.log);
}

/**
 * One Kafka node through scripts/kafka-server.sh, its data in `<dataDir>/kafka` (one node) or `<dataDir>/kafka-<id>`.
 * Several nodes are all combined broker+controllers: every one a controller voter, topics replicated on each.
 */
function launchKafka(dir: string, n: KafkaNode, all: KafkaNode[], clusterId: string): number {
  const args = ['--data-dir', path.join(dir, all.length === 1 ? 'kafka' : `kafka-${n.nodeId}`), '--port', String(n.port), '--controller-port', String(n.controllerPort)];
  if (all.length > 1) {
    const voters = all.map((x) => `${x.nodeId}@127.0.0.1:${x.controllerPort}`).join(',');
    args.push('--node-id', String(n.nodeId), '--voters', voters, '--cluster-id', clusterId, '--replicas', String(all.length));
  }
  return launch(path.join(REPO, 'scripts', 'kafka-server.sh'), args, n.log);
}

/**
 * A KRaft cluster id (16 random bytes, URL-safe base64, not starting with "-"), shared by the nodes of one start.
 * Nodes already formatted keep the id in their storage and ignore this one.
 */
function kafkaClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

// ------------------------------------------------------------------------------------------- rolling restart

export interface RollingOptions {
  dataDir: string;
  /** SIGTERM to SIGKILL for one component; a query node's hand-over runs inside common.stopTimeoutMs (50 s). */
  stopTimeoutMs?: number;
  /** The restarted process answering /ready (a coordinator: /healthz). */
  readyTimeoutMs?: number;
  /** The restarted process having its work back (segments, channels, an active coordinator). */
  settleTimeoutMs?: number;
  /** Called with a line as each step starts and ends ("querynode 3 -> 7 restarted in 9.8 s ..."). */
  progress?: (line: string) => void;
}

/** One component's restart, as `cluster rolling-restart` prints it (stdout, JSON) and reports it (stderr). */
export interface RestartRecord {
  role: string;
  oldServerID: number;
  /** The new session's serverID; a coordinator's is kept as it was (a standby reports none over HTTP). */
  serverID: number;
  oldPid: number;
  pid: number;
  /** SIGTERM until the process exited. */
  stopSeconds: number;
  /** Whether the stop overran `stopTimeoutMs` and the process was SIGKILLed. */
  killed: boolean;
  /** Launch until /ready (a standby coordinator: /healthz). */
  readySeconds: number;
  /** /ready until its work was back (see `settled`). */
  settleSeconds: number;
  totalSeconds: number;
  /** What "work back" meant for this component. */
  settled: string;
}

/** Bounds of `cluster rolling-restart`; generous for a busy 2-core machine (not configuration keys: see WAIT). */
const ROLLING = {
  /** Above common.stopTimeoutMs (50 s) so a component ends its own graceful stop. */
  stopMs: 70_000,
  readyMs: 60_000,
  settleMs: 120_000,
  /** One internal RPC (placement, distribution). */
  rpcMs: 3000,
  /** The coordinator's placement must hold still this long to count as settled. */
  stableMs: 2000,
} as const;

function secs(ms: number): number {
  return Math.round(ms / 100) / 10;
}

async function pollUntil(what: string, timeoutMs: number, check: () => Promise<string | undefined>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const why = await check().catch((e: unknown) => `${(e as Error).message}`);
    if (why === undefined) return;
    last = why;
    if (Date.now() > deadline) throw new KiteError('ServiceUnavailable', `${what} not within ${timeoutMs / 1000} s: ${last}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The coordinator whose /ready says 200 (the active one; a standby answers 503). */
async function activeCoordinatorOf(c: ClusterFile): Promise<ComponentEntry | undefined> {
  for (const x of c.components.filter((y) => y.role === 'querycoord' && alive(y.pid))) {
    if ((await getJson(x.metrics, '/ready')).status === 200) return x;
  }
  return undefined;
}

/** Segments loaded per "collection/replica" as the active coordinator sees them, and the nodes it knows. */
async function placement(c: ClusterFile): Promise<{ served: Map<string, Set<number>>; nodes: NodePlacement[] }> {
  const qc = await activeCoordinatorOf(c);
  if (!qc) throw new KiteError('ServiceUnavailable', 'no active coordinator');
  const client = connect('QueryCoord', `127.0.0.1:${qc.grpc}`, ROLLING.rpcMs);
  try {
    const r = await client.GetPlacement({ collection_id: 0 });
    const served = new Map<string, Set<number>>();
    for (const n of r.nodes) {
      if (n.role !== 'querynode' || n.state === 'stopping') continue;
      for (const s of n.segments) {
        const key = `${s.collection_id}/${s.replica_id}`;
        const set = served.get(key) ?? new Set<number>();
        set.add(Number(s.segment_id));
        served.set(key, set);
      }
    }
    return { served, nodes: r.nodes };
  } finally {
    client.close();
  }
}

/** Channels the live data nodes consume. */
async function dataChannels(c: ClusterFile): Promise<Set<string>> {
  const out = new Set<string>();
  for (const dn of c.components.filter((x) => x.role === 'datanode' && alive(x.pid))) {
    const client = connect('DataNode', `127.0.0.1:${dn.grpc}`, ROLLING.rpcMs);
    try {
      for (const ch of (await client.GetDistribution({})).channels) out.add(ch.channel);
    } catch {
      // a node that does not answer consumes nothing
    } finally {
      client.close();
    }
  }
  return out;
}

function missingFrom(before: Map<string, Set<number>>, now: Map<string, Set<number>>): string[] {
  const out: string[] = [];
  for (const [key, segs] of before) {
    const lacking = [...segs].filter((s) => !now.get(key)?.has(s));
    if (lacking.length) out.push(`collection/replica ${key} lacks segments ${lacking.slice(0, 5).join(',')}`);
  }
  return out;
}

/**
 * `kite cluster rolling-restart`: restarts every component of a local cluster one at a time — query nodes, data
 * nodes, coordinators (standbys first, the active one last), proxies — each with SIGTERM (its graceful stop hands
 * its work over first) and the very command, ports and log `cluster up` gave it, and waits until the new process
 * is ready and has its work back before the next:
 * - query node: the coordinator's placement serves every segment of every replica that was served before the stop,
 *   the new node holds segments again when the old one held some, no node is stopping, and the placement has held
 *   still for 2 s;
 * - data node: every channel consumed before the stop is consumed again;
 * - coordinator: an active coordinator (a standby that took over, or the new process);
 * - proxy: /ready.
 * cluster.json is rewritten after each restart (new pid and serverID), so `cluster down` still stops everything.
 */
export async function clusterRollingRestart(o: RollingOptions): Promise<RestartRecord[]> {
  const dir = path.resolve(o.dataDir);
  const c = readCluster(dir);
  if (!c) throw new KiteError('ParameterInvalid', `no cluster.json under ${dir}: start one with "kite cluster up --data-dir ${dir}"`);
  const down = c.components.filter((x) => !alive(x.pid)).map((x) => `${x.role}-${x.serverID} (pid ${x.pid})`);
  if (!alive(c.etcd.pid) || !alive(c.kafka.pid)) down.push('etcd or Kafka');
  if (down.length) throw new KiteError('ParameterInvalid', `not every process of ${dir} runs (${down.join(', ')}): a rolling restart needs the whole cluster; restart it with "kite cluster down" and "kite cluster up"`);
  const configFile = path.join(dir, 'kite.yaml');
  const cfg = YAML.parse(fs.readFileSync(configFile, 'utf8')) as { internal?: { secret?: string } };
  useInternalSecret(cfg.internal?.secret ?? '');
  const say = o.progress ?? ((): void => undefined);
  const stopMs = o.stopTimeoutMs ?? ROLLING.stopMs;
  const readyMs = o.readyTimeoutMs ?? ROLLING.readyMs;
  const settleMs = o.settleTimeoutMs ?? ROLLING.settleMs;
  const save = (): void => fs.writeFileSync(path.join(dir, 'cluster.json'), JSON.stringify(c, null, 2));

  const active = await activeCoordinatorOf(c);
  const byRole = (role: string): ComponentEntry[] => c.components.filter((x) => x.role === role);
  const coords = byRole('querycoord');
  const order = [
    ...byRole('querynode'),
    ...byRole('datanode'),
    ...coords.filter((x) => x !== active),
    ...coords.filter((x) => x === active),
    ...byRole('proxy'),
  ];
  const records: RestartRecord[] = [];
  for (const [i, x] of order.entries()) {
    const name = `${x.role}-${x.serverID}`;
    const wasActive = x === active;
    say(`[${i + 1}/${order.length}] stopping ${name} (pid ${x.pid})${wasActive ? ', the active coordinator' : ''}`);
    // What the component has now, to wait for after its restart.
    const before = x.role === 'querynode' ? await placement(c) : undefined;
    const ownSegments = before?.nodes.find((n) => n.node_id === x.serverID)?.segments.length ?? 0;
    const channelsBefore = x.role === 'datanode' ? await dataChannels(c) : undefined;

    const t0 = Date.now();
    const oldPid = x.pid;
    const killed = await stopPidReporting(x.pid, stopMs);
    const stopped = Date.now();
    say(`${name} stopped in ${secs(stopped - t0)} s${killed ? ` (SIGKILL after ${stopMs / 1000} s)` : ''}; starting it again`);
    const upper = x.role.toUpperCase();
    x.pid = launch(process.execPath, [KITE_BIN, x.role, '--config', configFile], x.log, {
      [`KITE_${upper}_PORT`]: String(x.grpc),
      [`KITE_${upper}_METRICS_PORT`]: String(x.metrics),
    });
    save();
    const oldID = x.serverID;
    await waitFor(name, x.pid, x.log, readyMs, async () => {
      // A coordinator may come back as a standby, which answers /healthz only.
      const r = await getJson(x.metrics, x.role === 'querycoord' ? '/healthz' : '/ready');
      if (x.role !== 'querycoord') x.serverID = Number(r.body.serverID ?? 0);
      return r.status === 200;
    });
    const ready = Date.now();
    let settled: string;
    if (x.role === 'querynode') {
      const want = before!.served;
      let sig = '';
      let since = Date.now();
      await pollUntil(`${name}'s segments served again`, settleMs, async () => {
        const now = await placement(c);
        const miss = missingFrom(want, now.served);
        if (miss.length) return miss[0];
        if (now.nodes.some((n) => n.role === 'querynode' && n.state === 'stopping')) return 'a query node is still stopping';
        const mine = now.nodes.find((n) => n.node_id === x.serverID);
        if (!mine) return `the coordinator does not know query node ${x.serverID} yet`;
        if (ownSegments > 0 && mine.segments.length === 0) return `query node ${x.serverID} holds no segments yet (it held ${ownSegments})`;
        const s = now.nodes.map((n) => `${n.node_id}:${n.state}:${n.segments.map((y) => `${y.replica_id}.${y.segment_id}`).sort().join(',')}`).sort().join(' ');
        if (s !== sig) {
          sig = s;
          since = Date.now();
        }
        return Date.now() - since >= ROLLING.stableMs ? undefined : 'placement still changing';
      });
      const mine = (await placement(c)).nodes.find((n) => n.node_id === x.serverID)?.segments.length ?? 0;
      settled = `every segment served again; ${mine} on the new node (${ownSegments} before)`;
    } else if (x.role === 'datanode') {
      const want = channelsBefore!;
      await pollUntil(`${name}'s channels consumed again`, settleMs, async () => {
        const now = await dataChannels(c);
        const lacking = [...want].filter((ch) => !now.has(ch));
        return lacking.length ? `channels ${lacking.slice(0, 4).join(', ')} have no data node` : undefined;
      });
      settled = `all ${want.size} channels consumed`;
    } else if (x.role === 'querycoord') {
      let now: ComponentEntry | undefined;
      await pollUntil('an active coordinator', settleMs, async () => {
        now = await activeCoordinatorOf(c);
        return now ? undefined : 'no coordinator answers /ready';
      });
      // A standby reports no serverID over HTTP; its session in etcd names it (kept as it was until then).
      const r = await getJson(x.metrics, '/ready');
      if (r.status === 200) x.serverID = Number(r.body.serverID ?? x.serverID);
      settled = now === x ? 'it is the active coordinator' : `coordinator on :${now!.grpc} is active`;
    } else {
      settled = 'ready';
    }
    save();
    const end = Date.now();
    const rec: RestartRecord = {
      role: x.role,
      oldServerID: oldID,
      serverID: x.serverID,
      oldPid,
      pid: x.pid,
      stopSeconds: secs(stopped - t0),
      killed,
      readySeconds: secs(ready - stopped),
      settleSeconds: secs(end - ready),
      totalSeconds: secs(end - t0),
      settled,
    };
    records.push(rec);
    say(`[${i + 1}/${order.length}] ${x.role} ${oldID} -> ${x.serverID} (pid ${oldPid} -> ${x.pid}): stop ${rec.stopSeconds} s, ready ${rec.readySeconds} s, settled ${rec.settleSeconds} s (${settled})`);
  }
  return records;
}

/** stopPid, saying whether the stop overran and the process was SIGKILLed. */
async function stopPidReporting(pid: number, graceMs: number): Promise<boolean> {
  const t0 = Date.now();
  await stopPid(pid, graceMs);
  return Date.now() - t0 >= graceMs;
}
