/**
 * Starts a real S3-compatible server — MinIO in single-drive mode — on a free loopback port for a test; installs it
 * first (scripts/install-s3-server.sh builds it from source through the Go module proxy) when it is missing.
 *
 *   const s3 = await startS3Server({ dataDir });
 *   new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true,
 *                  credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
 *   await s3.restart();   // graceful stop + start, same port and data
 *   await s3.kill();      // crash (SIGKILL); s3.start() brings it back
 *   await s3.stop();
 *
 * Objects go to `<dataDir>/data`, the server log to `<dataDir>/minio.log`. Buckets are not created: an S3 client
 * (or S3ObjectStore.open) does that.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { ManagedProcess, type ExitInfo } from './process';
import { freePort, repoRoot, waitUntil } from './util';

export interface S3ServerOptions {
  dataDir: string;
  /** S3 API port; a free one when omitted. */
  port?: number;
  /** Root credentials (MinIO wants a secret of 8+ characters); test defaults when omitted. */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** The minio binary; default KITE_MINIO_BIN, else the one scripts/install-s3-server.sh puts under .cache/minio. */
  binary?: string;
  startTimeoutMs?: number;
  /** Serve HTTPS with this certificate and key (PEM files; `ca` signed the certificate): the endpoint is https://. */
  tls?: { cert: string; key: string; ca: string };
}

export interface S3Server {
  /** `http://127.0.0.1:<port>`, for storage.s3.endpoint (with forcePathStyle). */
  readonly endpoint: string;
  readonly port: number;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Starts it again after stop() or kill(), on the same port and data; resolves once it serves. */
  start(): Promise<void>;
  /** SIGTERM, waits for exit. */
  stop(): Promise<ExitInfo | undefined>;
  /** SIGKILL, waits for exit. */
  kill(): Promise<ExitInfo | undefined>;
  /** stop() then start(). */
  restart(): Promise<void>;
}

const DEFAULT_START_TIMEOUT_MS = 30_000;
/** A first install compiles MinIO: minutes on two cores. */
const INSTALL_TIMEOUT_MS = 30 * 60_000;

/** Where scripts/install-s3-server.sh puts the binary (KITE_MINIO_HOME overrides the folder). */
export function minioBinary(): string {
  return path.join(process.env.KITE_MINIO_HOME ?? path.join(repoRoot(), '.cache', 'minio'), 'bin', 'minio');
}

/** Runs scripts/install-s3-server.sh (a quick no-op when MinIO is installed). */
export function ensureS3ServerInstalled(): void {
  execFileSync('bash', [path.join(repoRoot(), 'scripts', 'install-s3-server.sh')], {
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: INSTALL_TIMEOUT_MS,
  });
}

export async function startS3Server(options: S3ServerOptions): Promise<S3Server> {
  let binary = options.binary ?? process.env.KITE_MINIO_BIN;
  if (!binary) {
    ensureS3ServerInstalled();
    binary = minioBinary();
  }
  fs.mkdirSync(path.join(options.dataDir, 'data'), { recursive: true });
  const port = options.port ?? (await freePort());
  const consolePort = await freePort();
  const accessKeyId = options.accessKeyId ?? 'kite-test';
  const secretAccessKey = options.secretAccessKey ?? 'kite-test-secret';
  const tls = options.tls;
  const endpoint = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const certsDir = path.join(options.dataDir, 'certs');
  if (tls) {
    // MinIO reads public.crt and private.key from its certs directory.
    fs.mkdirSync(certsDir, { recursive: true });
    fs.copyFileSync(tls.cert, path.join(certsDir, 'public.crt'));
    fs.copyFileSync(tls.key, path.join(certsDir, 'private.key'));
  }
  const logFile = path.join(options.dataDir, 'minio.log');
  const proc = new ManagedProcess({
    name: 'minio',
    command: binary,
    args: [
      'server',
      path.join(options.dataDir, 'data'),
      '--address', `127.0.0.1:${port}`,
      '--console-address', `127.0.0.1:${consolePort}`,
      '--quiet',
      '--anonymous',
      ...(tls ? ['--certs-dir', certsDir] : []),
    ],
    env: {
      PATH: process.env.PATH,
      HOME: options.dataDir,
      MINIO_ROOT_USER: accessKeyId,
      MINIO_ROOT_PASSWORD: secretAccessKey,
      MINIO_REGION: 'us-east-1',
      MINIO_BROWSER: 'off',
      MINIO_UPDATE: 'off',
      // Allows a data folder on the root disk, as in a test.
      MINIO_CI_CD: 'on',
    },
    logFile,
  });
  const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;

  const start = async (): Promise<void> => {
    proc.start();
    await waitUntil(`minio on ${endpoint}`, () => ready(port, tls ? fs.readFileSync(tls.ca) : undefined), {
      timeoutMs,
      abort: () => (proc.running ? undefined : `exited (${JSON.stringify(proc.exitInfo)}); log:\n${proc.logTail()}`),
    }).catch(async (err: unknown) => {
      await proc.kill();
      throw err;
    });
  };

  await start();
  return {
    endpoint,
    port,
    region: 'us-east-1',
    accessKeyId,
    secretAccessKey,
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

/** MinIO's readiness probe answers 200 once the drive is formatted and the server takes S3 requests. */
function ready(port: number, ca: Buffer | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const where = { host: '127.0.0.1', port, path: '/minio/health/ready', timeout: 1000 };
    const onResponse = (res: http.IncomingMessage): void => {
      res.resume();
      resolve(res.statusCode === 200);
    };
    const req = ca ? https.get({ ...where, ca }, onResponse) : http.get(where, onResponse);
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}
