/**
 * Starts a single-node Kafka 3.9 broker (KRaft: broker and controller in one JVM) on free loopback ports for a
 * test, through scripts/kafka-server.sh; installs the broker first (scripts/install-kafka.sh) when it is missing.
 *
 *   const kafka = await startKafka({ dataDir });
 *   new Kafka({ brokers: kafka.brokers });
 *   await kafka.restart();  // controlled shutdown + start, same ports and data
 *   await kafka.kill();     // crash (SIGKILL); kafka.start() brings it back
 *   await kafka.stop();
 *
 * The broker's data and logs stay in dataDir: `kraft/` (the log dirs), `server.log`, `kafka.out` (stdout/stderr).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { ManagedProcess, type ExitInfo } from './process';
import { canConnect, freePort, repoRoot, waitUntil } from './util';

export interface KafkaOptions {
  dataDir: string;
  /** Broker (PLAINTEXT) port; a free one when omitted. */
  port?: number;
  /** KRaft controller port; a free one when omitted. */
  controllerPort?: number;
  /** JVM max heap, e.g. `512m` (the default). */
  heap?: string;
  /** C1-only JIT: starts ~0.5 s sooner, serves fewer appends per second under load. Default true (tests). */
  fastStart?: boolean;
  startTimeoutMs?: number;
  /**
   * Adds a SASL_PLAINTEXT listener (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512) for one user, on `port` or a free one.
   * The PLAINTEXT listener stays (the harness checks readiness through it).
   */
  sasl?: { username: string; password: string; port?: number };
  /**
   * Adds an SSL (TLS) listener with this certificate and key (PEM files signed by `ca`), on `port` or a free one;
   * `clientAuth` makes it require client certificates signed by `ca`.
   */
  tls?: { cert: string; key: string; ca: string; clientAuth?: boolean; port?: number };
}

export interface KafkaServer {
  /** `host:port` list for kafkajs's `brokers`. */
  readonly brokers: string[];
  /** `host:port` of the SASL_PLAINTEXT listener when started with `sasl`, else empty. */
  readonly saslBrokers: string[];
  /** `host:port` of the SSL listener when started with `tls`, else empty. */
  readonly sslBrokers: string[];
  readonly dataDir: string;
  readonly logFile: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Starts it again after stop() or kill(), on the same ports and data; resolves once it serves. */
  start(): Promise<void>;
  /** Controlled shutdown (SIGTERM), waits for exit. */
  stop(): Promise<ExitInfo | undefined>;
  /** SIGKILL, waits for exit. */
  kill(): Promise<ExitInfo | undefined>;
  /** stop() then start(). */
  restart(): Promise<void>;
}

const DEFAULT_START_TIMEOUT_MS = 60_000;
const INSTALL_TIMEOUT_MS = 10 * 60_000;

/** Runs scripts/install-kafka.sh (a quick no-op when the broker is installed). */
export function ensureKafkaInstalled(): void {
  const root = repoRoot();
  execFileSync('bash', [path.join(root, 'scripts', 'install-kafka.sh')], {
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: INSTALL_TIMEOUT_MS,
  });
}

export async function startKafka(options: KafkaOptions): Promise<KafkaServer> {
  ensureKafkaInstalled();
  fs.mkdirSync(options.dataDir, { recursive: true });
  const port = options.port ?? (await freePort());
  const controllerPort = options.controllerPort ?? (await freePort());
  const broker = `127.0.0.1:${port}`;
  const saslPort = options.sasl ? (options.sasl.port ?? (await freePort())) : undefined;
  const saslArgs = options.sasl
    ? ['--sasl-port', String(saslPort), '--sasl-user', options.sasl.username, '--sasl-password', options.sasl.password]
    : [];
  const tlsPort = options.tls ? (options.tls.port ?? (await freePort())) : undefined;
  let tlsArgs: string[] = [];
  if (options.tls) {
    // The broker's PEM keystore is one file: its private key (PKCS#8, unencrypted) then its certificate.
    const keystore = path.join(options.dataDir, 'broker-keystore.pem');
    fs.writeFileSync(keystore, fs.readFileSync(options.tls.key, 'utf8') + fs.readFileSync(options.tls.cert, 'utf8'));
    tlsArgs = ['--ssl-port', String(tlsPort), '--ssl-keystore', keystore, '--ssl-truststore', options.tls.ca, ...(options.tls.clientAuth ? ['--ssl-client-auth'] : [])];
  }
  const logFile = path.join(options.dataDir, 'kafka.out');
  const proc = new ManagedProcess({
    name: 'kafka',
    command: 'bash',
    args: [
      path.join(repoRoot(), 'scripts', 'kafka-server.sh'),
      '--data-dir', options.dataDir,
      '--port', String(port),
      '--controller-port', String(controllerPort),
      '--heap', options.heap ?? '512m',
      ...(options.fastStart === false ? [] : ['--fast-start']),
      ...saslArgs,
      ...tlsArgs,
    ],
    logFile,
  });
  const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;

  const start = async (): Promise<void> => {
    proc.start();
    const abort = (): string | undefined =>
      proc.running ? undefined : `exited (${JSON.stringify(proc.exitInfo)}); log:\n${proc.logTail()}`;
    try {
      // The broker listener opens only once the broker is registered and unfenced; then confirm that a topic could
      // be placed on it (validate-only, nothing is created).
      await waitUntil(`kafka on ${broker}`, () => canConnect(port), { timeoutMs, abort, intervalMs: 25 });
      await waitUntil(`kafka on ${broker} accepting topics`, () => canPlaceTopic(broker), { timeoutMs, abort });
    } catch (err) {
      await proc.kill();
      throw err;
    }
  };

  await start();
  return {
    brokers: [broker],
    saslBrokers: saslPort !== undefined ? [`127.0.0.1:${saslPort}`] : [],
    sslBrokers: tlsPort !== undefined ? [`127.0.0.1:${tlsPort}`] : [],
    dataDir: options.dataDir,
    logFile,
    get pid() {
      return proc.pid;
    },
    get running() {
      return proc.running;
    },
    start,
    stop: () => proc.stop(),
    kill: () => proc.kill(),
    restart: async () => {
      await proc.stop();
      await start();
    },
  };
}

async function canPlaceTopic(broker: string): Promise<boolean> {
  const admin = new Kafka({
    clientId: 'kite-test-harness',
    brokers: [broker],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    await admin.createTopics({
      validateOnly: true,
      waitForLeaders: false,
      topics: [{ topic: '__kite_harness_probe', numPartitions: 1, replicationFactor: 1 }],
    });
    return true;
  } finally {
    await admin.disconnect();
  }
}
