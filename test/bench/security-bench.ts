/**
 * Search QPS with authentication and TLS on vs off, in one run, through the official Node SDK. Standalone servers
 * run side by side on the same data: "plain" (security.authorizationEnabled false, tls.mode 0), "secured"
 * (authorization on, the SDK logging in as root, tls.mode 1) and "mtls" (authorization on, tls.mode 2 with a client
 * certificate; left out with --no-mtls). Each gets the same rows (clustered 128-d vectors, HNSW), is flushed,
 * indexed and loaded, then the same search workload (nq = 1, top 10, several concurrent clients) runs against one
 * server at a time: a warm-up, then fixed-duration phases alternating A/B/A/B (and B/A in odd rounds) so that drift
 * (CPU frequency, other load) falls on every configuration alike.
 * Prints QPS and p50/p99 latency per configuration and the ratio secured/plain (goal >= 0.9). Not a test.
 *
 *   test/node_modules/.bin/tsx test/bench/security-bench.ts [--rows 20000] [--dim 128] [--ef 64] [--clients 8]
 *       [--phase-sec 10] [--rounds 2] [--warmup-sec 5] [--no-mtls] [--cpu-prof <dir>]
 *
 * --cpu-prof runs each server under `node --cpu-prof` and leaves its profile, written when the
 * server stops, in <dir>/<configuration>/ (open it in Chrome DevTools or speedscope).
 *
 * Servers, data and certificates live under the OS temp dir and are removed at the end (kept with
 * KITE_KEEP_TEST_DATA=1). All traffic goes to 127.0.0.1; every loop ends on a count or a deadline.
 */
import { benchArgs, percentile } from './args';
import { performance } from 'node:perf_hooks';
import os from 'node:os';
import path from 'node:path';
import { ConsistencyLevelEnum, DataType, MilvusClient, type ClientConfig } from '@zilliz/milvus2-sdk-node';
import { makeTempDir, removeTempDir } from '../harness/util';
import { makeTestCerts, type TestCerts } from '../support/certs';
import { startStandalone, type Standalone } from '../support/kite';
import { chunks, clusteredVectors, eventually, expectOk, queriesNear, waitIndexBuilt } from '../standalone/helpers';

interface Options {
  rows: number;
  dim: number;
  ef: number;
  clients: number;
  phaseSec: number;
  rounds: number;
  warmupSec: number;
  mtls: boolean;
  /** Directory for each server's V8 CPU profile (node --cpu-prof), one subdirectory per configuration. */
  cpuProf?: string;
}

const GOAL = 0.9;
const ROOT_PASSWORD = 'Milvus';

function readOptions(argv: string[]): Options {
  const a = benchArgs(argv, {
    rows: 'int', dim: 'int', ef: 'int', clients: 'int', 'phase-sec': 'int', rounds: 'int', 'warmup-sec': 'int', 'no-mtls': 'flag', 'cpu-prof': 'string',
  }, __filename);
  return {
    rows: a.rows ?? 20_000, dim: a.dim ?? 128, ef: a.ef ?? 64, clients: a.clients ?? 8, phaseSec: a['phase-sec'] ?? 10,
    rounds: a.rounds ?? 2, warmupSec: a['warmup-sec'] ?? 5, mtls: !a['no-mtls'], cpuProf: a['cpu-prof'] === undefined ? undefined : path.resolve(a['cpu-prof']),
  };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]): string => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

interface Config {
  name: string;
  detail: string;
  env: NodeJS.ProcessEnv;
  client: Partial<ClientConfig>;
}

interface Target {
  config: Config;
  server: Standalone;
  /** One SDK client (one gRPC channel) per concurrent searcher, as separate application processes would have. */
  clients: MilvusClient[];
  requests: number;
  seconds: number;
  latencies: number[];
}

function configs(certs: TestCerts | undefined, mtls: boolean): Config[] {
  const tls = (mode: 1 | 2): NodeJS.ProcessEnv => ({
    KITE_TLS_MODE: String(mode),
    KITE_TLS_SERVER_PEM_PATH: certs!.serverPem,
    KITE_TLS_SERVER_KEY_PATH: certs!.serverKey,
    KITE_TLS_CA_PEM_PATH: certs!.caPem,
  });
  const auth = { KITE_SECURITY_AUTHORIZATION_ENABLED: 'true' };
  const login = { username: 'root', password: ROOT_PASSWORD };
  const list: Config[] = [
    { name: 'plain', detail: 'authorization off, tls.mode 0', env: { KITE_SECURITY_AUTHORIZATION_ENABLED: 'false', KITE_TLS_MODE: '0' }, client: {} },
    {
      name: 'secured',
      detail: 'authorization on (root), tls.mode 1',
      env: { ...auth, ...tls(1) },
      client: { ...login, ssl: true, tls: { rootCertPath: certs!.caPem, serverName: 'localhost' } },
    },
  ];
  if (mtls) {
    list.push({
      name: 'mtls',
      detail: 'authorization on (root), tls.mode 2',
      env: { ...auth, ...tls(2) },
      client: {
        ...login,
        ssl: true,
        tls: { rootCertPath: certs!.caPem, certChainPath: certs!.clientPem, privateKeyPath: certs!.clientKey, serverName: 'localhost' },
      },
    });
  }
  return list;
}

/** Creates the collection, inserts the rows, flushes, builds HNSW and loads; returns the seconds it took. */
async function prepare(client: MilvusClient, name: string, vectors: number[][], o: Options): Promise<number> {
  const start = performance.now();
  expectOk(
    await client.createCollection({
      collection_name: name,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'vector', data_type: DataType.FloatVector, dim: o.dim },
      ],
      consistency_level: 'Bounded',
    }),
    'createCollection',
  );
  expectOk(
    await client.createIndex({ collection_name: name, field_name: 'vector', index_type: 'HNSW', metric_type: 'L2', params: { M: 16, efConstruction: 128 } }),
    'createIndex',
  );
  for (const batch of chunks(vectors.map((vector, id) => ({ id, vector })), 2_000)) {
    expectOk((await client.insert({ collection_name: name, data: batch })).status, 'insert');
  }
  const flush = await client.flush({ collection_names: [name] });
  expectOk(flush.status, 'flush');
  const segIDs = Object.values(flush.coll_segIDs as Record<string, { data: string[] }>).flatMap((v) => v.data);
  await eventually('flushed', async () => ((await client.getFlushState({ segmentIDs: segIDs as unknown as number[] })).flushed ? true : undefined), 300_000);
  await waitIndexBuilt(client, name, 'vector', 600_000);
  await client.loadCollectionSync({ collection_name: name });
  return (performance.now() - start) / 1000;
}

/** `clients` concurrent searchers for `seconds`; returns the count and each request's latency in ms. */
async function phase(t: Target, name: string, queries: number[][], o: Options, seconds: number): Promise<{ requests: number; seconds: number; latencies: number[] }> {
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  const worker = async (c: MilvusClient): Promise<void> => {
    while (performance.now() < end) {
      const q = queries[next++ % queries.length]!;
      const s = performance.now();
      const res = await c.search({
        collection_name: name,
        data: [q],
        limit: 10,
        output_fields: ['id'],
        params: { ef: o.ef },
        consistency_level: ConsistencyLevelEnum.Bounded,
      });
      expectOk(res.status, `search on ${t.config.name}`);
      latencies.push(performance.now() - s);
    }
  };
  await Promise.all(t.clients.map(worker));
  return { requests: latencies.length, seconds: (performance.now() - start) / 1000, latencies };
}

async function main(): Promise<void> {
  const o = readOptions(process.argv.slice(2));
  const certDir = makeTempDir('bench-certs');
  const targets: Target[] = [];
  const name = `bench_security_${Date.now()}`;
  try {
    const certs = makeTestCerts(certDir);
    const vectors = clusteredVectors(o.rows, o.dim, 7, 64, 0.3);
    const queries = queriesNear(vectors, 2_000, 11, 0.1);
    const prep: string[][] = [['configuration', 'server', 'load data', 'detail']];
    // Started and loaded one after the other; afterwards they sit idle while the other one is measured.
    for (const config of configs(certs, o.mtls)) {
      const startAt = performance.now();
      const nodeArgs = o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${path.join(o.cpuProf, config.name)}`] : [];
      // node writes the profile when the process exits: the stop must end before the launcher's SIGKILL grace (15 s).
      const env = o.cpuProf ? { ...config.env, KITE_COMMON_STOP_TIMEOUT_MS: '5000' } : config.env;
      const server = await startStandalone({ env, clientOptions: config.client, nodeArgs });
      const startSec = (performance.now() - startAt) / 1000;
      const t: Target = { config, server, clients: [], requests: 0, seconds: 0, latencies: [] };
      targets.push(t);
      for (let i = 0; i < o.clients; i++) t.clients.push(new MilvusClient({ address: server.address, timeout: 120_000, ...config.client }));
      await Promise.all(t.clients.map((c) => c.connectPromise));
      const loadSec = await prepare(t.clients[0]!, name, vectors, o);
      prep.push([config.name, `${startSec.toFixed(1)} s`, `${loadSec.toFixed(1)} s`, config.detail]);
    }

    for (const t of targets) await phase(t, name, queries, o, o.warmupSec);
    const order: string[] = [];
    for (let r = 0; r < o.rounds; r++) {
      // A/B/A/B, and B/A in odd rounds, so neither side always runs first after the other.
      const round = r % 2 === 0 ? targets : [...targets].reverse();
      for (const t of round) {
        const res = await phase(t, name, queries, o, o.phaseSec);
        t.requests += res.requests;
        t.seconds += res.seconds;
        for (const l of res.latencies) t.latencies.push(l);
        order.push(`${t.config.name} ${(res.requests / res.seconds).toFixed(0)}`);
      }
    }

    const qps = (t: Target): number => t.requests / t.seconds;
    const plain = targets[0]!;
    const out: string[][] = [['configuration', 'QPS', 'p50 ms', 'p99 ms', 'requests', `vs plain (goal >= ${GOAL})`]];
    for (const t of targets) {
      t.latencies.sort((a, b) => a - b);
      const ratio = qps(t) / qps(plain);
      out.push([
        t.config.name,
        qps(t).toFixed(1),
        percentile(t.latencies, 50).toFixed(2),
        percentile(t.latencies, 99).toFixed(2),
        String(t.requests),
        t === plain ? '-' : `${ratio.toFixed(3)} ${ratio >= GOAL ? 'ok' : 'BELOW GOAL'}`,
      ]);
    }
    console.log(`\nKite standalone, search with authentication and TLS on vs off, via @zilliz/milvus2-sdk-node`);
    console.log(
      `${o.rows} rows x ${o.dim}-d, HNSW M=16 ef=${o.ef}, nq=1 top 10, ${o.clients} clients (one channel each), ` +
        `${o.rounds} x ${o.phaseSec} s per configuration after ${o.warmupSec} s warm-up; ${os.cpus().length} CPUs\n`,
    );
    console.log(table(prep));
    console.log('');
    console.log(table(out));
    console.log(`\nphases (QPS, in order): ${order.join(', ')}\n`);
  } finally {
    for (const t of targets) {
      await t.clients[0]?.dropCollection({ collection_name: name }).catch(() => undefined);
      await Promise.all(t.clients.map((c) => c.closeConnection().catch(() => undefined)));
      await t.server.dispose();
    }
    if (!process.env.KITE_KEEP_TEST_DATA) removeTempDir(certDir);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
