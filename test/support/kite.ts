/**
 * Starts `bin/kite standalone` for end-to-end tests: free 127.0.0.1 ports, output appended to a log file in the data
 * directory, ready once Milvus's `CheckHealth` answers healthy through the official Node SDK. The child never
 * outlives the test process (the harness's ManagedProcess kills it on exit, and a watchdog kills it if Jest dies).
 */
import fs from 'node:fs';
import path from 'node:path';
import { MilvusClient, type ClientConfig } from '@zilliz/milvus2-sdk-node';
import { ManagedProcess } from '../harness/process';
import { canConnect, freePort, makeTempDir, removeTempDir, repoRoot, sleep } from '../harness/util';

export interface StandaloneOptions {
  /** Reuse a data directory (e.g. to restart on it); a fresh temporary one when omitted. */
  dataDir?: string;
  /** How long to wait for the server to answer CheckHealth. */
  readyTimeoutMs?: number;
  /** Extra environment for the child (merged over this process's). */
  env?: NodeJS.ProcessEnv;
  /** Options of the client that checks readiness (e.g. `ssl` and `tls` when the server runs with tls.mode). */
  clientOptions?: Partial<ClientConfig>;
  /** Options for node itself, before the script (e.g. `--cpu-prof`, which NODE_OPTIONS does not accept). */
  nodeArgs?: string[];
}

export interface Standalone {
  /** `127.0.0.1:<port>`, what MilvusClient takes. */
  readonly address: string;
  readonly port: number;
  readonly metricsPort: number;
  readonly dataDir: string;
  /** stdout and stderr of every run, appended. */
  readonly logFile: string;
  /** The child's pid while it runs. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** SIGTERM, SIGKILL after a grace period; resolves once the process exited. */
  stop(): Promise<void>;
  /** SIGKILL (a crash); resolves once the process exited. */
  kill9(): Promise<void>;
  /** Stops the process if it runs, starts it again on the same ports and data directory, waits until ready. */
  restart(): Promise<void>;
  /** Stops the process and removes the data directory if this launcher created it (kept with KITE_KEEP_TEST_DATA). */
  dispose(): Promise<void>;
  /** The end of the log, for failure messages. */
  logTail(bytes?: number): string;
}

const DEFAULT_READY_TIMEOUT_MS = 90_000;
const LOG_NAME = 'standalone.test.log';

/** The command line that runs Kite standalone; exported so the benchmark prints it. */
export function standaloneCommand(dataDir: string, port: number, metricsPort: number): { command: string; args: string[] } {
  return {
    command: process.execPath,
    args: [
      path.join(repoRoot(), 'bin', 'kite'),
      'standalone',
      '--data-dir',
      dataDir,
      '--port',
      String(port),
      '--metrics-port',
      String(metricsPort),
    ],
  };
}

async function twoFreePorts(): Promise<[number, number]> {
  for (;;) {
    const a = await freePort();
    const b = await freePort();
    if (a !== b) return [a, b];
  }
}

/** Resolves once CheckHealth answers healthy; throws with the log tail if the process exits or time runs out. */
async function waitReady(proc: ManagedProcess, port: number, timeoutMs: number, clientOptions: Partial<ClientConfig> = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const exited = (): string | undefined => {
    if (proc.running) return undefined;
    const info = proc.exitInfo;
    return `kite standalone exited (code ${info?.code ?? '?'}, signal ${info?.signal ?? 'none'}) before it was ready`;
  };
  let lastError = 'port not open';
  while (Date.now() < deadline) {
    const reason = exited();
    if (reason) throw new Error(`${reason}\n--- log tail ---\n${proc.logTail()}`);
    if (await canConnect(port)) {
      // A fresh client per attempt: a client whose Connect failed keeps failing.
      const client = new MilvusClient({ address: `127.0.0.1:${port}`, timeout: 5_000, maxRetries: 0, ...clientOptions });
      try {
        const health = await client.checkHealth();
        if (health.isHealthy) return;
        lastError = `CheckHealth: not healthy (${JSON.stringify(health.reasons)})`;
      } catch (err) {
        lastError = `CheckHealth failed: ${(err as Error).message}`;
      } finally {
        await client.closeConnection().catch(() => undefined);
      }
    }
    await sleep(250);
  }
  throw new Error(
    `kite standalone on port ${port} not ready after ${timeoutMs} ms (${lastError})\n--- log tail ---\n${proc.logTail()}`,
  );
}

export async function startStandalone(options: StandaloneOptions = {}): Promise<Standalone> {
  const ownsDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? makeTempDir('standalone');
  fs.mkdirSync(dataDir, { recursive: true });
  const [port, metricsPort] = await twoFreePorts();
  const logFile = path.join(dataDir, LOG_NAME);
  const { command, args: kiteArgs } = standaloneCommand(dataDir, port, metricsPort);
  const args = [...(options.nodeArgs ?? []), ...kiteArgs];
  const proc = new ManagedProcess({
    name: 'kite standalone',
    command,
    args,
    logFile,
    cwd: repoRoot(),
    // Automatic compaction off unless a test asks for it: it rewrites segments on its own schedule, which would make
    // stored row counts and read-time TTL checks of other suites depend on timing (the compaction suites enable it).
    env: { KITE_COMPACTION_ENABLED: 'false', ...process.env, ...options.env },
  });
  const readyTimeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;

  const launch = async (): Promise<void> => {
    fs.appendFileSync(logFile, `\n[kite-test] ${new Date().toISOString()} starting: ${command} ${args.join(' ')}\n`);
    proc.start();
    try {
      await waitReady(proc, port, readyTimeoutMs, options.clientOptions);
    } catch (err) {
      await proc.kill();
      throw err;
    }
  };
  await launch();

  const server: Standalone = {
    address: `127.0.0.1:${port}`,
    port,
    metricsPort,
    dataDir,
    logFile,
    get pid() {
      return proc.pid;
    },
    get running() {
      return proc.running;
    },
    async stop() {
      await proc.stop();
    },
    async kill9() {
      fs.appendFileSync(logFile, `\n[kite-test] ${new Date().toISOString()} kill -9 pid ${proc.pid}\n`);
      await proc.kill();
    },
    async restart() {
      await proc.stop();
      await launch();
    },
    async dispose() {
      await proc.stop();
      if (ownsDir) removeTempDir(dataDir);
    },
    logTail(bytes?: number) {
      return proc.logTail(bytes);
    },
  };
  return server;
}
