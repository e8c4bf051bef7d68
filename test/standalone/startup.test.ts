/**
 * Start-up tells the truth: `bin/kite standalone` and a cluster role (`bin/kite querynode`) whose port is held by
 * another process, or whose data directory another running instance holds, exit non-zero within a deadline with
 * one `kite:` line naming the address (or directory), the reason and the flag to change, log no claim that the
 * endpoint is up or the process ready, and leave nothing behind (store locks released, no session in etcd).
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import YAML from 'yaml';
import { runKite, type CommandResult } from '../cluster/launcher';
import { readSessions } from '../cluster/inspect';
import { startEtcd, type EtcdServer } from '../harness/etcd';
import { freePort, makeTempDir, removeTempDir } from '../harness/util';
import { startStandalone } from '../support/kite';

jest.setTimeout(180_000);

/** How long a refused start may take (it takes about a second; the margin is for a busy 2-core machine). */
const DEADLINE_MS = 60_000;

interface Held {
  port: number;
  close(): Promise<void>;
}

/** A port held by a listening socket of this (another) process. */
async function holdPort(): Promise<Held> {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

interface LogLine {
  msg?: string;
  port?: number;
  metricsPort?: number;
  [k: string]: unknown;
}

/** The JSON log lines on stdout. */
function logLines(stdout: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      // not a log line
    }
  }
  return out;
}

/** Log lines that claim an endpoint is up or the process ready. */
function claims(r: CommandResult): LogLine[] {
  return logLines(r.stdout).filter((l) => /\bup\b|\bready\b|listening/i.test(l.msg ?? ''));
}

/** The start was refused: a non-zero exit (not a kill at the deadline), one `kite:` line on stderr; returns it. */
function refusal(r: CommandResult): string {
  const context = `exit ${r.code} signal ${r.signal} after ${r.ms} ms\n--- stderr ---\n${r.stderr}\n--- stdout ---\n${r.stdout.slice(-4000)}`;
  if (r.signal !== null || r.code === null || r.code === 0) throw new Error(`expected a refused start, got ${context}`);
  expect(r.ms).toBeLessThan(DEADLINE_MS);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('kite: '));
  if (lines.length !== 1) throw new Error(`expected one "kite:" line on stderr, got ${context}`);
  return lines[0]!;
}

/** LOCK files left under a data dir (a cleanly refused start releases the store locks it took). */
function locks(dir: string): string[] {
  return ['meta', 'wal'].map((sub) => path.join(dir, sub, 'LOCK')).filter((f) => fs.existsSync(f));
}

describe('kite standalone', () => {
  const dirs: string[] = [];
  const held: Held[] = [];
  const tempDir = (): string => {
    const d = makeTempDir('startup');
    dirs.push(d);
    return d;
  };

  afterAll(async () => {
    for (const h of held) await h.close();
    for (const d of dirs) removeTempDir(d);
  });

  test('a metrics port held by another process stops it, naming the port and --metrics-port', async () => {
    const h = await holdPort();
    held.push(h);
    const dir = tempDir();
    const port = await freePort();
    const r = await runKite(['standalone', '--data-dir', dir, '--port', String(port), '--metrics-port', String(h.port)], process.env, DEADLINE_MS);
    const line = refusal(r);
    expect(line).toContain(`127.0.0.1:${h.port}`);
    expect(line).toContain('EADDRINUSE');
    expect(line).toContain('--metrics-port');
    expect(line).toContain('KITE_PROXY_METRICS_PORT');
    expect(claims(r)).toEqual([]);
    expect(locks(dir)).toEqual([]);
  });

  test('a gRPC port held by another process stops it, naming the port and --port', async () => {
    const h = await holdPort();
    held.push(h);
    const dir = tempDir();
    const metricsPort = await freePort();
    const r = await runKite(['standalone', '--data-dir', dir, '--port', String(h.port), '--metrics-port', String(metricsPort)], process.env, DEADLINE_MS);
    const line = refusal(r);
    expect(line).toContain(`127.0.0.1:${h.port}`);
    expect(line).toContain('EADDRINUSE');
    expect(line).toMatch(/--port\b/);
    expect(line).toContain('KITE_PROXY_PORT');
    expect(claims(r)).toEqual([]);
    expect(locks(dir)).toEqual([]);
  });

  test('an internal server that cannot listen stops it, naming the address and internal.listenHost', async () => {
    const dir = tempDir();
    // 192.0.2.1 (TEST-NET-1) is not an address of this machine: the first server to bind, the coordinator's, fails.
    const env = { ...process.env, KITE_INTERNAL_LISTEN_HOST: '192.0.2.1' };
    const r = await runKite(['standalone', '--data-dir', dir, '--port', String(await freePort()), '--metrics-port', '0'], env, DEADLINE_MS);
    const line = refusal(r);
    expect(line).toContain('query coordinator');
    expect(line).toContain('192.0.2.1:0');
    expect(line).toContain('EADDRNOTAVAIL');
    expect(line).toContain('KITE_INTERNAL_LISTEN_HOST');
    expect(claims(r)).toEqual([]);
    expect(locks(dir)).toEqual([]);
  });

  test('a data dir held by a running standalone stops a second one, naming the dir, the holder pid and --data-dir', async () => {
    const first = await startStandalone();
    try {
      const pid = first.pid!;
      const r = await runKite(
        ['standalone', '--data-dir', first.dataDir, '--port', String(await freePort()), '--metrics-port', String(await freePort())],
        process.env,
        DEADLINE_MS,
      );
      const line = refusal(r);
      expect(line).toContain(`data directory ${path.resolve(first.dataDir)} `);
      expect(line).toContain(`process ${pid}`);
      expect(line).toContain('--data-dir');
      expect(claims(r)).toEqual([]);
      // The first instance is untouched: still running, still the holder of its locks.
      expect(first.running).toBe(true);
      expect(fs.readFileSync(path.join(first.dataDir, 'meta', 'LOCK'), 'utf8').trim()).toBe(String(pid));
    } finally {
      await first.dispose();
    }
  });
});

describe('kite querynode (a cluster role on etcd)', () => {
  let dir: string;
  let etcd: EtcdServer;
  let configFile: string;
  const held: Held[] = [];

  beforeAll(async () => {
    dir = makeTempDir('startup-role');
    etcd = await startEtcd({ dataDir: path.join(dir, 'etcd') });
    configFile = path.join(dir, 'kite.yaml');
    // etcd for sessions and metadata; the WAL and objects stay local (a query node reads neither while starting).
    fs.writeFileSync(
      configFile,
      YAML.stringify({ common: { dataDir: path.join(dir, 'data') }, meta: { type: 'etcd', etcdEndpoints: etcd.endpoints } }),
    );
  });

  afterAll(async () => {
    for (const h of held) await h.close();
    await etcd?.stop();
    if (dir) removeTempDir(dir);
  });

  const querynodeSessions = async (): Promise<string[]> =>
    (await readSessions(etcd.endpoints)).filter((s) => s.value.role === 'querynode').map((s) => s.key);

  test('a held gRPC port stops it before it registers, naming the port, --port and KITE_QUERYNODE_PORT', async () => {
    const h = await holdPort();
    held.push(h);
    const metricsPort = await freePort();
    const r = await runKite(['querynode', '--config', configFile, '--port', String(h.port), '--metrics-port', String(metricsPort)], process.env, DEADLINE_MS);
    const line = refusal(r);
    expect(line).toContain(`127.0.0.1:${h.port}`);
    expect(line).toContain('EADDRINUSE');
    expect(line).toMatch(/--port\b/);
    expect(line).toContain('KITE_QUERYNODE_PORT');
    // Its HTTP server listened (and said so) before the gRPC bind failed; nothing claims the gRPC port or readiness.
    const bad = claims(r).filter((l) => /is ready/i.test(l.msg ?? '') || l.port === h.port || l.grpcPort === h.port);
    expect(bad).toEqual([]);
    expect(await querynodeSessions()).toEqual([]);
  });

  test('a held metrics port stops it before it registers, naming the port, --metrics-port and KITE_QUERYNODE_METRICS_PORT', async () => {
    const h = await holdPort();
    held.push(h);
    const port = await freePort();
    const r = await runKite(['querynode', '--config', configFile, '--port', String(port), '--metrics-port', String(h.port)], process.env, DEADLINE_MS);
    const line = refusal(r);
    expect(line).toContain(`127.0.0.1:${h.port}`);
    expect(line).toContain('EADDRINUSE');
    expect(line).toContain('--metrics-port');
    expect(line).toContain('KITE_QUERYNODE_METRICS_PORT');
    expect(claims(r)).toEqual([]);
    expect(await querynodeSessions()).toEqual([]);
  });
});
