/**
 * Starts and stops a Kite cluster for tests through the command line the design fixes (`bin/kite cluster up|down|
 * status --data-dir DIR`), so the tests exercise exactly what an operator runs. `cluster up` starts etcd, a Kafka
 * broker and every component as detached background processes and writes DIR/cluster.json; this launcher reads that
 * file to find the processes.
 *
 * Nothing outlives the test process: `dispose()` runs `cluster down`, then SIGKILLs whatever cluster.json still
 * lists as alive, and last of all any process whose command line names this cluster's (unique, freshly created)
 * data directory — which also catches processes of a `cluster up` that failed before it wrote cluster.json. A
 * watchdog shell does the same if the test process dies without running its hooks.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { processAlive } from '@kite/common';
import { useInternalSecret } from '@kite/rpc';
import { fileTail, freePort, makeTempDir, removeTempDir, repoRoot, sleep } from '../harness/util';

/** One component process as cluster.json lists it. */
export interface ComponentEntry {
  role: 'querycoord' | 'querynode' | 'datanode' | 'proxy';
  serverID: number;
  pid: number;
  grpc: number;
  metrics: number;
  log: string;
  /** The address it listens on and advertises when not 127.0.0.1 (a component started in a network namespace). */
  host?: string;
  /** The network namespace it runs in (`ip netns exec`), when not the host's. */
  netns?: string;
}

/** DIR/cluster.json, as `cluster up` writes it (docs/deploy.md, "A local cluster"). */
export interface ClusterFile {
  dataDir: string;
  proxy: { grpc: number; metrics: number };
  /** The first etcd member; `members` lists each when `--etcd-members` is above 1. */
  etcd: { endpoints: string[]; pid: number; clientPort?: number; peerPort?: number; members?: { name: string; pid: number; clientPort: number; peerPort: number; log: string }[] };
  /** The first Kafka broker; `nodes` lists each when `--kafka-brokers` is above 1. */
  kafka: { brokers: string[]; pid: number; port?: number; controllerPort?: number; nodes?: { nodeId: number; pid: number; port: number; controllerPort: number; log: string }[] };
  components: ComponentEntry[];
  startedAt?: string;
  upSeconds: number;
}

export interface ClusterOptions {
  querynodes?: number;
  datanodes?: number;
  proxies?: number;
  /** `--session-ttl` in seconds (the server's default when omitted). */
  sessionTtlSeconds?: number;
  /** Extra environment for `cluster up`, which hands its environment to every child (e.g. KITE_DATANODE_SEGMENT_MAX_ROWS). */
  env?: Record<string, string>;
  /** `--etcd-members` (1 or 3; the command's default of 1 when omitted). */
  etcdMembers?: number;
  /** `--kafka-brokers` (1 or 3; the command's default of 1 when omitted). */
  kafkaBrokers?: number;
  /** How long `cluster up` may take; Kafka alone takes 5–25 s on a busy 2-core machine. */
  upTimeoutMs?: number;
}

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

const DEFAULT_UP_TIMEOUT_MS = 240_000;
const DOWN_TIMEOUT_MS = 120_000;
/** The signature of the object-store start-up race in a component log (see `start`). */
const KITE_TMP_RACE = /EEXIST[^\n]*\.kite-tmp/;

function kiteBin(): string {
  return path.join(repoRoot(), 'bin', 'kite');
}

/** Runs `node bin/kite <args>` to completion (killed after `timeoutMs`), capturing its output. */
export function runKite(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<CommandResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [kiteBin(), ...args], { cwd: repoRoot(), env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      stderr += `\n[launcher] killed after ${timeoutMs} ms`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      stderr += `\n[launcher] spawn failed: ${err.message}`;
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** Pids (other than this process) whose command line contains `needle`, read from /proc. */
export function pidsMentioning(needle: string): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmd.includes(needle)) out.push(pid);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function killHard(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

/** Every pid cluster.json names. */
function filePids(c: ClusterFile): number[] {
  const etcd = c.etcd.members?.map((m) => m.pid) ?? [c.etcd.pid];
  const kafka = c.kafka.nodes?.map((n) => n.pid) ?? [c.kafka.pid];
  return [...etcd, ...kafka, ...c.components.map((x) => x.pid)];
}

const liveClusters = new Set<KiteCluster>();
let exitHooked = false;
function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', () => {
    for (const c of liveClusters) c.killEverythingNow();
  });
}

export class KiteCluster {
  /** The latest cluster.json (refreshed by every `up`). */
  info!: ClusterFile;
  /** Wall time of each `cluster up` run by this launcher, in ms, as seen from here. */
  readonly upTimesMs: number[] = [];
  private watchdogPid: number | undefined;

  private constructor(
    readonly dataDir: string,
    readonly port: number,
    private readonly options: ClusterOptions,
    private readonly ownsDir: boolean,
  ) {}

  /** `cluster up` on a fresh temporary data directory (or `dataDir`), on a free port for the first proxy. */
  static async start(options: ClusterOptions = {}, dataDir?: string): Promise<KiteCluster> {
    for (let attempt = 1; ; attempt++) {
      const dir = dataDir ?? makeTempDir('cluster');
      const cluster = new KiteCluster(dir, await freePort(), options, dataDir === undefined);
      hookExit();
      liveClusters.add(cluster);
      cluster.startWatchdog();
      try {
        await cluster.up();
        return cluster;
      } catch (err) {
        await cluster.dispose();
        // KNOWN SERVER BUG (reported, not fixed here): every process opens the shared local object store, and
        // LocalObjectStore.open() does rm + mkdir of <objects>/.kite-tmp, so two processes starting together can
        // fail with EEXIST and `cluster up` aborts. Retry once on a fresh directory, loudly; remove when fixed.
        if (attempt === 1 && dataDir === undefined && KITE_TMP_RACE.test((err as Error).message)) {
          console.warn(`[cluster] cluster up hit the .kite-tmp EEXIST start-up race (known bug); retrying once:\n${(err as Error).message.split('\n')[0]}`);
          continue;
        }
        throw err;
      }
    }
  }

  /** `127.0.0.1:<port>` of the first proxy, what MilvusClient takes. */
  get address(): string {
    return `127.0.0.1:${this.info.proxy.grpc}`;
  }

  /** Every proxy's Milvus address, in start order. */
  get proxyAddresses(): string[] {
    return this.components('proxy').map((c) => `127.0.0.1:${c.grpc}`);
  }

  components(role: ComponentEntry['role']): ComponentEntry[] {
    return this.info.components.filter((c) => c.role === role);
  }

  get etcdEndpoints(): string[] {
    return this.info.etcd.endpoints;
  }

  get kafkaBrokers(): string[] {
    return this.info.kafka.brokers;
  }

  get objectsDir(): string {
    return path.join(this.dataDir, 'objects');
  }

  /** Runs `cluster up` on this data directory and reads cluster.json. */
  async up(): Promise<ClusterFile> {
    const o = this.options;
    const args = ['cluster', 'up', '--data-dir', this.dataDir, '--port', String(this.port)];
    args.push('--querynodes', String(o.querynodes ?? 2), '--datanodes', String(o.datanodes ?? 1), '--proxies', String(o.proxies ?? 1));
    if (o.sessionTtlSeconds !== undefined) args.push('--session-ttl', String(o.sessionTtlSeconds));
    if (o.etcdMembers !== undefined) args.push('--etcd-members', String(o.etcdMembers));
    if (o.kafkaBrokers !== undefined) args.push('--kafka-brokers', String(o.kafkaBrokers));
    // Automatic compaction off unless a test asks for it: tests here read segment records from etcd and wait for
    // those segments, which a compaction would replace (test/cluster/compaction.test.ts runs it on purpose).
    const res = await runKite(args, { KITE_COMPACTION_ENABLED: 'false', ...process.env, ...o.env }, o.upTimeoutMs ?? DEFAULT_UP_TIMEOUT_MS);
    if (res.code !== 0) {
      throw new Error(
        `bin/kite ${args.join(' ')} failed (code ${res.code}, signal ${res.signal}) after ${res.ms} ms\n` +
          `stderr: ${res.stderr.trim()}\n${this.logTails(1500)}`,
      );
    }
    this.upTimesMs.push(res.ms);
    const printed = JSON.parse(res.stdout) as ClusterFile;
    this.info = JSON.parse(fs.readFileSync(path.join(this.dataDir, 'cluster.json'), 'utf8')) as ClusterFile;
    if (printed.upSeconds !== this.info.upSeconds) throw new Error('cluster up printed another layout than it wrote to cluster.json');
    // Internal calls from this test process (inspecting distributions, etc.) carry the cluster's secret, which
    // `cluster up` wrote into the config file every process reads.
    useInternalSecret(this.internalSecret);
    return this.info;
  }

  /** The cluster secret (internal.secret) in the config file `cluster up` wrote. */
  get internalSecret(): string {
    const cfg = YAML.parse(fs.readFileSync(path.join(this.dataDir, 'kite.yaml'), 'utf8')) as { internal?: { secret?: string } };
    return cfg.internal?.secret ?? '';
  }

  /** `cluster status`: the layout plus liveness of each process. */
  async status(): Promise<ClusterFile & { alive: Record<string, boolean> }> {
    const res = await runKite(['cluster', 'status', '--data-dir', this.dataDir], process.env, 30_000);
    if (res.code !== 0) throw new Error(`cluster status failed (code ${res.code}): ${res.stderr}`);
    return JSON.parse(res.stdout) as ClusterFile & { alive: Record<string, boolean> };
  }

  /**
   * `cluster down`; then every process of cluster.json must be gone (a survivor fails the call after being
   * SIGKILLed, so the caller sees it). Returns how long `cluster down` took.
   */
  async down(): Promise<number> {
    const res = await runKite(['cluster', 'down', '--data-dir', this.dataDir], process.env, DOWN_TIMEOUT_MS);
    const survivors = this.info ? filePids(this.info).filter(processAlive) : [];
    // `cluster down` waits for each pid itself; give the kernel a moment to reap before calling one a survivor.
    for (let i = 0; i < 20 && survivors.some(processAlive); i++) await sleep(100);
    const stuck = survivors.filter(processAlive);
    for (const pid of stuck) killHard(pid);
    if (res.code !== 0) throw new Error(`cluster down failed (code ${res.code}, signal ${res.signal}): ${res.stderr}`);
    if (stuck.length > 0) throw new Error(`cluster down left processes running (SIGKILLed now): ${stuck.join(', ')}`);
    return res.ms;
  }

  /** Stops everything (however the test went) and removes the data directory unless KITE_KEEP_TEST_DATA is set. */
  async dispose(): Promise<void> {
    try {
      if (this.info || fs.existsSync(path.join(this.dataDir, 'cluster.json'))) {
        if (!this.info) this.info = JSON.parse(fs.readFileSync(path.join(this.dataDir, 'cluster.json'), 'utf8')) as ClusterFile;
        await this.down().catch((err: unknown) => console.warn(`[cluster] ${(err as Error).message}`));
      }
    } finally {
      this.killEverythingNow();
      liveClusters.delete(this);
      if (this.watchdogPid !== undefined) killHard(this.watchdogPid);
      if (process.env.KITE_KEEP_TEST_DATA) console.warn(`[cluster] data and logs kept in ${this.dataDir}`);
      if (this.ownsDir) removeTempDir(this.dataDir);
    }
  }

  /** Last resort: SIGKILL every pid of cluster.json and every process naming the data directory. */
  killEverythingNow(): void {
    if (this.info) for (const pid of filePids(this.info)) if (processAlive(pid)) killHard(pid);
    for (const pid of pidsMentioning(this.dataDir)) if (pid !== this.watchdogPid) killHard(pid);
  }

  /** The last `bytes` of every log under DIR/logs, for failure messages. */
  logTails(bytes = 2000): string {
    const dir = path.join(this.dataDir, 'logs');
    if (!fs.existsSync(dir)) return '(no logs)';
    const parts: string[] = [];
    for (const name of fs.readdirSync(dir).sort()) {
      parts.push(`--- ${name} ---\n${fileTail(path.join(dir, name), bytes)}`);
    }
    return parts.join('\n');
  }

  /** Lines of the component logs that match `pattern` (e.g. errors), for reports. */
  grepLogs(pattern: RegExp, max = 40): string[] {
    const dir = path.join(this.dataDir, 'logs');
    const out: string[] = [];
    if (!fs.existsSync(dir)) return out;
    for (const name of fs.readdirSync(dir).sort()) {
      for (const line of fs.readFileSync(path.join(dir, name), 'utf8').split('\n')) {
        if (pattern.test(line)) out.push(`${name}: ${line.slice(0, 400)}`);
        if (out.length >= max) return out;
      }
    }
    return out;
  }

  private startWatchdog(): void {
    // Kills this cluster's processes if the test process dies without its exit hooks (a SIGKILLed Jest worker).
    // `$$` is the watchdog itself, whose own command line names the directory too.
    const dir = this.dataDir.replace(/'/g, `'\\''`);
    const script =
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ` +
      `for p in /proc/[0-9]*; do n=\${p#/proc/}; [ "$n" = "$$" ] && continue; ` +
      `grep -qsF '${dir}' "$p/cmdline" && kill -KILL "$n" 2>/dev/null; done`;
    const dog = spawn('/bin/sh', ['-c', script], { stdio: 'ignore', detached: true });
    dog.unref();
    this.watchdogPid = dog.pid;
  }
}
