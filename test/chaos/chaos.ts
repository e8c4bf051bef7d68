/**
 * Process faults for a Kite cluster started with `bin/kite cluster up` (through test/cluster/launcher): kill -9 or
 * SIGTERM one component, start it again with the very command `cluster up` used (`node bin/kite <role> --config
 * DIR/kite.yaml`, its ports in KITE_<ROLE>_PORT / KITE_<ROLE>_METRICS_PORT, its log appended), start an extra one
 * (a standby coordinator), and crash-restart etcd (its own command line, read from /proc) and the Kafka broker
 * (scripts/kafka-server.sh with the data dir and ports of cluster.json).
 *
 * Every change of pid is written back to DIR/cluster.json, so `cluster down` stops the processes started here too;
 * the launcher's last resort (SIGKILL of every process whose command line names the data dir) catches the rest.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { readJsonPrefix, ROOT } from '../cluster/inspect';
import { processAlive } from '@kite/common';
import { KiteCluster, type ClusterOptions, type ComponentEntry } from '../cluster/launcher';
import { canConnect, fileTail, freePort, repoRoot, sleep } from '../harness/util';

export type Role = ComponentEntry['role'];
export type { ComponentEntry };

/** GET http://<host>:<port><path> as JSON; status 0 when nothing answers. */
export function httpJson(port: number, p: string, timeoutMs = 1000, host = '127.0.0.1'): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: p, timeout: timeoutMs }, (res) => {
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

/** Alive and not a zombie (a killed child of this process may linger as one until it is reaped). */
export function running(pid: number): boolean {
  if (!processAlive(pid)) return false;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (running(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/**
 * Starts a detached background process with its output appended to `log`; returns its pid. In a network namespace
 * it runs through `ip netns exec`, which execs the command in place (same pid).
 */
function launch(command: string, args: string[], log: string, env: NodeJS.ProcessEnv, netns?: string): number {
  if (netns) {
    args = ['netns', 'exec', netns, command, ...args];
    command = 'ip';
  }
  const fd = fs.openSync(log, 'a');
  fs.writeSync(fd, `\n[chaos] ${new Date().toISOString()} starting: ${command} ${args.join(' ')}\n`);
  const child = spawn(command, args, { cwd: repoRoot(), detached: true, stdio: ['ignore', fd, fd], env });
  fs.closeSync(fd);
  child.on('error', () => undefined);
  child.unref();
  if (!child.pid) throw new Error(`could not start ${command}`);
  return child.pid;
}

export class ChaosCluster {
  private extras = 0;

  private constructor(
    readonly cluster: KiteCluster,
    private readonly options: ClusterOptions,
  ) {}

  /** `cluster up` through the launcher (test/cluster/launcher.ts). */
  static async start(options: ClusterOptions): Promise<ChaosCluster> {
    return new ChaosCluster(await KiteCluster.start(options), options);
  }

  get dataDir(): string {
    return this.cluster.dataDir;
  }

  get info() {
    return this.cluster.info;
  }

  components(role: Role): ComponentEntry[] {
    return this.cluster.components(role);
  }

  /** Components of `role` whose process is alive. */
  live(role: Role): ComponentEntry[] {
    return this.components(role).filter((c) => running(c.pid));
  }

  address(c: ComponentEntry): string {
    return `${c.host ?? '127.0.0.1'}:${c.grpc}`;
  }

  private env(c: Pick<ComponentEntry, 'role' | 'grpc' | 'metrics' | 'host'>): NodeJS.ProcessEnv {
    const upper = c.role.toUpperCase();
    // A component in a network namespace listens on and advertises the namespace's address.
    const placed = c.host
      ? { KITE_COMMON_LISTEN_HOST: c.host, KITE_INTERNAL_LISTEN_HOST: c.host, KITE_COMMON_METRICS_LISTEN_HOST: c.host, KITE_COMMON_ADVERTISE_HOST: c.host }
      : {};
    return { ...process.env, ...this.options.env, ...placed, [`KITE_${upper}_PORT`]: String(c.grpc), [`KITE_${upper}_METRICS_PORT`]: String(c.metrics) };
  }

  /** The command `cluster up` runs for a component (services/kite/src/cluster.ts). */
  command(role: Role): { command: string; args: string[] } {
    return { command: process.execPath, args: [path.join(repoRoot(), 'bin', 'kite'), role, '--config', path.join(this.dataDir, 'kite.yaml')] };
  }

  save(): void {
    fs.writeFileSync(path.join(this.dataDir, 'cluster.json'), JSON.stringify(this.cluster.info, null, 2));
  }

  /** kill -9; resolves once the process is gone. */
  async kill9(c: ComponentEntry): Promise<void> {
    signal(c.pid, 'SIGKILL');
    if (!(await waitGone(c.pid, 10_000))) throw new Error(`${c.role} ${c.serverID} (pid ${c.pid}) survived SIGKILL`);
  }

  /** SIGSTOP: the process stays alive but runs nothing (a long GC pause, a frozen VM) until resume(). */
  pause(c: ComponentEntry): void {
    signal(c.pid, 'SIGSTOP');
  }

  resume(c: ComponentEntry): void {
    signal(c.pid, 'SIGCONT');
  }

  /** SIGTERM (graceful stop); resolves with how long the process took to exit. */
  async terminate(c: ComponentEntry, timeoutMs = 60_000): Promise<number> {
    const t0 = Date.now();
    signal(c.pid, 'SIGTERM');
    if (!(await waitGone(c.pid, timeoutMs))) throw new Error(`${c.role} ${c.serverID} (pid ${c.pid}) did not exit within ${timeoutMs} ms of SIGTERM`);
    return Date.now() - t0;
  }

  /**
   * Starts a stopped component again with the same command, ports and log; waits for /ready (or only /healthz
   * with `readyCheck: 'healthz'`, e.g. a coordinator that will stand by). Updates the entry and cluster.json.
   */
  async restart(c: ComponentEntry, readyCheck: 'ready' | 'healthz' = 'ready', timeoutMs = 60_000): Promise<ComponentEntry> {
    if (running(c.pid)) throw new Error(`${c.role} ${c.serverID} (pid ${c.pid}) still runs; stop it first`);
    const { command, args } = this.command(c.role);
    const pid = launch(command, args, c.log, this.env(c), c.netns);
    c.pid = pid;
    this.save();
    c.serverID = await this.waitStarted(c, readyCheck, timeoutMs);
    this.save();
    return c;
  }

  /**
   * Starts one more component of `role` on fresh ports (e.g. a standby coordinator) and adds it to cluster.json.
   * With `placement`, it runs in that network namespace and listens on and advertises `placement.host`
   * (test/chaos/netns.ts); `env` adds to its environment (e.g. KITE_PROXY_* keys for a proxy configured unlike the
   * others). A restart() of it later uses the cluster's environment only.
   */
  async addComponent(
    role: Role,
    readyCheck: 'ready' | 'healthz' = 'ready',
    timeoutMs = 60_000,
    placement?: { netns: string; host: string },
    env: Record<string, string> = {},
  ): Promise<ComponentEntry> {
    const grpc = await freePort();
    const metrics = await freePort();
    const log = path.join(this.dataDir, 'logs', `${role}-extra-${this.extras++}.log`);
    const { command, args } = this.command(role);
    const c: ComponentEntry = { role, serverID: 0, pid: 0, grpc, metrics, log, ...placement };
    c.pid = launch(command, args, log, { ...this.env(c), ...env }, c.netns);
    this.cluster.info.components.push(c);
    this.save();
    c.serverID = await this.waitStarted(c, readyCheck, timeoutMs);
    this.save();
    return c;
  }

  private async waitStarted(c: ComponentEntry, check: 'ready' | 'healthz', timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (check === 'ready') {
        const r = await httpJson(c.metrics, '/ready', 1000, c.host);
        if (r.status === 200) return Number(r.body.serverID ?? 0);
      } else if ((await httpJson(c.metrics, '/healthz', 1000, c.host)).status === 200) {
        // A standby coordinator reports no serverID over HTTP; its session in etcd names it once registered.
        const id = await this.sessionID(c).catch(() => 0);
        if (id > 0) return id;
      }
      if (!running(c.pid)) throw new Error(`${c.role} (pid ${c.pid}) exited while starting; see ${c.log}:\n${fileTail(c.log, 1500)}`);
      if (Date.now() > deadline) throw new Error(`${c.role} (pid ${c.pid}) not ${check} after ${timeoutMs} ms; see ${c.log}`);
      await sleep(50);
    }
  }

  /** The serverID of the session (`<root>/session/<role>-<id>`) whose address is the component's gRPC address. */
  private async sessionID(c: ComponentEntry): Promise<number> {
    const sessions = await readJsonPrefix<{ serverID?: number; address?: string }>(this.cluster.etcdEndpoints, `${ROOT}/session/${c.role}-`);
    // The newest one: a killed predecessor on the same port keeps its key until its lease expires.
    let id = 0;
    for (const v of sessions.values()) if (v.address === this.address(c) && (v.serverID ?? 0) > id && v.serverID !== c.serverID) id = v.serverID!;
    return id;
  }

  /** Whether the component answers /ready with 200 now, and its serverID. */
  async ready(c: ComponentEntry): Promise<{ ready: boolean; serverID: number }> {
    const r = await httpJson(c.metrics, '/ready', 1000, c.host);
    return { ready: r.status === 200, serverID: Number(r.body.serverID ?? 0) };
  }

  /**
   * Crash-restarts etcd: reads its command line from /proc, kill -9, waits `downMs`, starts the same command on
   * the same data dir and ports. Returns the times (epoch ms) it was stopped, started and accepting connections.
   */
  async restartEtcd(downMs: number, sig: NodeJS.Signals = 'SIGKILL'): Promise<{ stoppedAt: number; startedAt: number; upAt: number }> {
    const etcd = this.cluster.info.etcd;
    const argv = fs.readFileSync(`/proc/${etcd.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    if (!argv[0] || !/etcd$/.test(argv[0])) throw new Error(`pid ${etcd.pid} is not etcd: ${argv.join(' ')}`);
    signal(etcd.pid, sig);
    if (!(await waitGone(etcd.pid, 30_000))) throw new Error(`etcd (pid ${etcd.pid}) did not stop`);
    const stoppedAt = Date.now();
    await sleep(downMs);
    const startedAt = Date.now();
    etcd.pid = launch(argv[0], argv.slice(1), path.join(this.dataDir, 'logs', 'etcd.log'), { ...process.env, ...this.options.env });
    this.save();
    const port = etcd.clientPort ?? Number(new URL(etcd.endpoints[0]!).port);
    await this.waitPort('etcd', etcd.pid, port, 30_000);
    return { stoppedAt, startedAt, upAt: Date.now() };
  }

  /** Crash-restarts the Kafka broker: kill -9, waits `downMs`, scripts/kafka-server.sh with the same data dir and ports. */
  async restartKafka(downMs: number, sig: NodeJS.Signals = 'SIGKILL'): Promise<{ stoppedAt: number; startedAt: number; upAt: number }> {
    const kafka = this.cluster.info.kafka;
    if (kafka.port === undefined || kafka.controllerPort === undefined) throw new Error('cluster.json lacks the Kafka ports');
    signal(kafka.pid, sig);
    if (!(await waitGone(kafka.pid, 60_000))) throw new Error(`Kafka (pid ${kafka.pid}) did not stop`);
    const stoppedAt = Date.now();
    await sleep(downMs);
    const startedAt = Date.now();
    const args = ['--data-dir', path.join(this.dataDir, 'kafka'), '--port', String(kafka.port), '--controller-port', String(kafka.controllerPort)];
    kafka.pid = launch(path.join(repoRoot(), 'scripts', 'kafka-server.sh'), args, path.join(this.dataDir, 'logs', 'kafka.log'), {
      ...process.env,
      ...this.options.env,
    });
    this.save();
    await this.waitPort('Kafka', kafka.pid, kafka.port, 120_000);
    return { stoppedAt, startedAt, upAt: Date.now() };
  }

  private async waitPort(what: string, pid: number, port: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await canConnect(port))) {
      if (!running(pid)) throw new Error(`${what} (pid ${pid}) exited while starting; see ${this.dataDir}/logs`);
      if (Date.now() > deadline) throw new Error(`${what} not accepting connections on ${port} after ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  /**
   * Starts again every component whose process is gone (a coordinator as a standby: it waits for /healthz only),
   * so the next test begins with the whole cluster. Returns what it restarted.
   */
  async heal(): Promise<string[]> {
    const out: string[] = [];
    for (const c of this.info.components) {
      if (running(c.pid)) continue;
      out.push(`${c.role}-${c.serverID}`);
      await this.restart(c, c.role === 'querycoord' ? 'healthz' : 'ready');
    }
    return out;
  }

  /** Log lines of the components (JSON pino lines) at warn level or above, or matching `pattern`. */
  grep(pattern: RegExp, max = 30): string[] {
    return this.cluster.grepLogs(pattern, max);
  }

  async dispose(): Promise<void> {
    await this.cluster.dispose();
  }
}
