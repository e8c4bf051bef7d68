/**
 * Starts a single-member etcd (Debian's `etcd-server`, 3.4) on free loopback ports for a test.
 *
 *   const etcd = await startEtcd({ dataDir });
 *   new Etcd3({ hosts: etcd.endpoints });
 *   await etcd.restart();   // graceful stop + start, same ports and data
 *   await etcd.kill();      // crash (SIGKILL); etcd.start() brings it back
 *   await etcd.stop();
 *
 * Data goes to `<dataDir>/data`, the server log to `<dataDir>/etcd.log`.
 */
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import fs from 'node:fs';
import { Etcd3, Range } from 'etcd3';
import { ManagedProcess, type ExitInfo } from './process';
import { freePort, waitUntil } from './util';

export interface EtcdOptions {
  dataDir: string;
  /** Client port; a free one when omitted. */
  clientPort?: number;
  /** Peer port; a free one when omitted. */
  peerPort?: number;
  /** The etcd binary; default KITE_ETCD_BIN or `etcd` on the PATH. */
  binary?: string;
  startTimeoutMs?: number;
  /** Extra command-line flags. */
  args?: string[];
  /**
   * Serve clients over TLS (https:// endpoints) with this server certificate; with `clientCertAuth`, only clients
   * presenting a certificate signed by `ca` are let in (etcd's --client-cert-auth). Peers stay plaintext.
   */
  tls?: { ca: string; cert: string; key: string; clientCertAuth?: boolean; clientCert?: string; clientKey?: string };
}

export interface EtcdServer {
  /** Client URLs for `etcd3`'s `hosts`. */
  readonly endpoints: string[];
  readonly dataDir: string;
  readonly logFile: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Starts it again after stop() or kill(), on the same ports and data; resolves once it serves. */
  start(): Promise<void>;
  /** SIGTERM, waits for exit. */
  stop(): Promise<ExitInfo | undefined>;
  /** SIGKILL, waits for exit. */
  kill(): Promise<ExitInfo | undefined>;
  /** stop() then start(). */
  restart(): Promise<void>;
}

const DEFAULT_START_TIMEOUT_MS = 20_000;

export async function startEtcd(options: EtcdOptions): Promise<EtcdServer> {
  fs.mkdirSync(options.dataDir, { recursive: true });
  const clientPort = options.clientPort ?? (await freePort());
  const peerPort = options.peerPort ?? (await freePort());
  const tls = options.tls;
  const client = `${tls ? 'https' : 'http'}://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const logFile = path.join(options.dataDir, 'etcd.log');
  const proc = new ManagedProcess({
    name: 'etcd',
    command: options.binary ?? process.env.KITE_ETCD_BIN ?? 'etcd',
    args: [
      '--name', 'kite',
      '--data-dir', path.join(options.dataDir, 'data'),
      '--listen-client-urls', client,
      '--advertise-client-urls', client,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `kite=${peer}`,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', `kite-test-${clientPort}`,
      '--logger', 'zap',
      '--log-outputs', 'stderr',
      // One member: the election timeout only delays (re)starts; it also sets the minimum lease TTL (1.5x).
      '--heartbeat-interval', '50',
      '--election-timeout', '500',
      ...(tls
        ? ['--cert-file', tls.cert, '--key-file', tls.key, '--trusted-ca-file', tls.ca, ...(tls.clientCertAuth ? ['--client-cert-auth'] : [])]
        : []),
      ...(options.args ?? []),
    ],
    logFile,
  });
  const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;

  const start = async (): Promise<void> => {
    proc.start();
    await waitUntil(`etcd on ${client}`, () => healthy(clientPort, tls), {
      timeoutMs,
      abort: () => (proc.running ? undefined : `exited (${JSON.stringify(proc.exitInfo)}); log:\n${proc.logTail()}`),
    }).catch(async (err: unknown) => {
      await proc.kill();
      throw err;
    });
  };

  await start();
  return {
    endpoints: [client],
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

/** etcd's /health says true once the member has a leader and serves reads. */
function healthy(port: number, tls: EtcdOptions['tls']): Promise<boolean> {
  return new Promise((resolve) => {
    const onResponse = (res: http.IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        try {
          resolve(res.statusCode === 200 && (JSON.parse(body) as { health?: unknown }).health === 'true');
        } catch {
          resolve(false);
        }
      });
    };
    const where = { host: '127.0.0.1', port, path: '/health', timeout: 1000 };
    const req = tls
      ? https.get(
          {
            ...where,
            ca: fs.readFileSync(tls.ca),
            // With --client-cert-auth the health endpoint wants a client certificate too (the server's serves).
            cert: fs.readFileSync(tls.clientCert ?? tls.cert),
            key: fs.readFileSync(tls.clientKey ?? tls.key),
          },
          onResponse,
        )
      : http.get(where, onResponse);
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/**
 * Turns on etcd's authentication, as `etcdctl user add root; etcdctl auth enable` do, and adds `users` with
 * readwrite on every key (or on `prefix` when given). Afterwards every client must log in.
 */
export async function enableEtcdAuth(
  endpoints: string[],
  rootPassword: string,
  users: { name: string; password: string; prefix?: string }[] = [],
): Promise<void> {
  const admin = new Etcd3({ hosts: endpoints });
  try {
    await admin.role('root').create();
    await admin.user('root').create(rootPassword);
    await admin.user('root').addRole('root');
    for (const u of users) {
      const role = `${u.name}-rw`;
      // A prefix's range ends at the prefix with its last byte incremented; "\0" to "\0" is every key.
      const range =
        u.prefix === undefined || u.prefix === ''
          ? new Range(Buffer.from([0]), Buffer.from([0]))
          : new Range(u.prefix, prefixEnd(u.prefix));
      await admin.role(role).create();
      await admin.role(role).grant({ permission: 'Readwrite', range });
      await admin.user(u.name).create(u.password);
      await admin.user(u.name).addRole(role);
    }
    await admin.auth.authEnable();
  } finally {
    admin.close();
  }
}

function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix, 'utf8');
  end[end.length - 1] = (end[end.length - 1] as number) + 1;
  return end;
}
