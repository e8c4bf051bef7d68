import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import YAML from 'yaml';
import { KiteError } from '@kite/common';

/**
 * `kite cluster up|down|status`: etcd, a Kafka broker and every component as separate background processes on
 * loopback, with logs under `<dataDir>/logs` and the layout written to `<dataDir>/cluster.json` (docs/deploy.md,
 * "A local cluster").
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
  etcd: { endpoints: string[]; pid: number; clientPort: number; peerPort: number };
  kafka: { brokers: string[]; pid: number; port: number; controllerPort: number };
  components: ComponentEntry[];
  startedAt: string;
  upSeconds: number;
}

export interface UpOptions {
  dataDir: string;
  querynodes: number;
  datanodes: number;
  proxies: number;
  port: number;
  sessionTtlSeconds?: number;
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

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

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

function pids(c: ClusterFile): number[] {
  return [c.etcd.pid, c.kafka.pid, ...c.components.map((x) => x.pid)];
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
  const pick = portPicker([o.port, prev?.etcd.clientPort, prev?.etcd.peerPort, prev?.kafka.port, prev?.kafka.controllerPort]);
  const clientPort = prev?.etcd.clientPort ?? (await pick());
  const peerPort = prev?.etcd.peerPort ?? (await pick());
  const kafkaPort = prev?.kafka.port ?? (await pick());
  const controllerPort = prev?.kafka.controllerPort ?? (await pick());

  const say = o.progress ?? ((): void => undefined);
  /** Announces a process, waits for it to be ready, then says how long that took. */
  const starting = (name: string): (() => void) => {
    const t = Date.now();
    say(`starting ${name}`);
    return () => say(`${name} ready in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  };
  const etcdLog = path.join(logs, 'etcd.log');
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const etcdReady = starting('etcd');
  const etcdPid = launch('etcd', [
    '--name', 'kite', '--data-dir', path.join(dir, 'etcd'),
    '--listen-client-urls', client, '--advertise-client-urls', client,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `kite=${peer}`, '--initial-cluster-state', 'new', '--initial-cluster-token', 'kite',
    '--logger', 'zap', '--log-outputs', 'stderr',
  ], etcdLog);
  const kafkaLog = path.join(logs, 'kafka.log');
  const kafkaReady = starting('Kafka');
  const kafkaPid = launch(path.join(REPO, 'scripts', 'kafka-server.sh'), [
    '--data-dir', path.join(dir, 'kafka'), '--port', String(kafkaPort), '--controller-port', String(controllerPort),
  ], kafkaLog);
  await waitFor('etcd', etcdPid, etcdLog, WAIT.etcdUpMs, () => canConnect(clientPort));
  etcdReady();
  await waitFor('Kafka', kafkaPid, kafkaLog, WAIT.kafkaUpMs, () => canConnect(kafkaPort));
  kafkaReady();

  const config = {
    common: { dataDir: dir, rootPath: 'kite', ...(o.sessionTtlSeconds ? { sessionTtlSeconds: o.sessionTtlSeconds } : {}) },
    meta: { type: 'etcd', etcdEndpoints: [client] },
    wal: { type: 'kafka', kafkaBrokers: [`127.0.0.1:${kafkaPort}`] },
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
      etcd: { endpoints: [client], pid: etcdPid, clientPort, peerPort },
      kafka: { brokers: [`127.0.0.1:${kafkaPort}`], pid: kafkaPid, port: kafkaPort, controllerPort },
      components,
      startedAt: new Date(t0).toISOString(),
      upSeconds: (Date.now() - t0) / 1000,
    };
    fs.writeFileSync(path.join(dir, 'cluster.json'), JSON.stringify(c, null, 2));
    return c;
  } catch (e) {
    for (const p of [...components.map((x) => x.pid), kafkaPid, etcdPid]) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
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
  await stopPid(c.kafka.pid, WAIT.kafkaStopMs);
  await stopPid(c.etcd.pid, WAIT.etcdStopMs);
}

export async function clusterStatus(dataDir: string): Promise<ClusterFile & { alive: Record<string, boolean> }> {
  const c = readCluster(path.resolve(dataDir));
  if (!c) throw new KiteError('ParameterInvalid', `no cluster.json under ${dataDir}`);
  const live: Record<string, boolean> = { etcd: alive(c.etcd.pid), kafka: alive(c.kafka.pid) };
  for (const x of c.components) live[`${x.role}-${x.serverID}`] = alive(x.pid) && (await getJson(x.metrics, '/ready')).status === 200;
  return { ...c, alive: live };
}
