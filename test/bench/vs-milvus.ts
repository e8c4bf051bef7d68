/**
 * Kite against real Milvus 2.3.5, one workload, in one run, through the official Milvus Go SDK (client/v2): the load
 * generator test/bench/go (built by `make bench-vs-milvus` into .cache/bin/bench-vs-milvus) runs once per server and
 * reports each phase with the server's CPU time (from /proc/<pid>/stat of its processes and their children) and its
 * own; this script starts the servers one after the other (each stopped before the next starts, so they never share
 * the CPU) and prints one table with the Kite / Milvus ratio per row. docs/performance.md describes the workload.
 *
 *   test/node_modules/.bin/tsx test/bench/vs-milvus.ts [--rows 100000] [--seconds 15] [--insert-concurrency 2] [--recall-queries 1000]
 *       [--cluster] [--querynodes 1] [--datanodes 1] [--bin .cache/bin/bench-vs-milvus] [--only kite|milvus] [--smoke]
 *       [--cpu-prof DIR]
 *
 * --cpu-prof DIR writes a V8 CPU profile of Kite standalone (the whole run) into DIR when it stops.
 * --smoke runs every operation once on 2,000 rows and checks the answers (`make test-go-sdk`: the Go SDK against Kite).
 *
 * --rows defaults to BENCH_N (100000). Milvus comes from KITE_MILVUS_VENV (default .cache/milvus-venv;
 * scripts/install-milvus-venv.sh installs it) and is started like test/python/milvus_ref.py does, with every port it
 * takes (embedded etcd, metrics, components) moved to free ones. Data directories are temporary and removed at the
 * end (kept with KITE_KEEP_TEST_DATA=1).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { benchArgs } from './args';
import { startStandalone } from '../support/kite';
import { KiteCluster } from '../cluster/launcher';
import { ManagedProcess } from '../harness/process';
import { canConnect, makeTempDir, removeTempDir, repoRoot, sleep } from '../harness/util';

interface Options {
  rows: number;
  seconds: number;
  insertConcurrency: number;
  /** Queries checked against brute force for recall@10. */
  recallQueries: number;
  cluster: boolean;
  querynodes: number;
  datanodes: number;
  bin: string;
  only?: string;
  /** Every operation once on a small collection, answers checked (the Go SDK compatibility check). */
  smoke: boolean;
  /** Directory for a V8 CPU profile of Kite standalone (node --cpu-prof), written when it stops. */
  cpuProf?: string;
}

function readOptions(argv: string[]): Options {
  const a = benchArgs(
    argv,
    { rows: 'int', seconds: 'int', 'insert-concurrency': 'int', 'recall-queries': 'int', cluster: 'flag', querynodes: 'int', datanodes: 'int', bin: 'string', only: 'string', smoke: 'flag', 'cpu-prof': 'string' },
    __filename,
  );
  const envRows = process.env.BENCH_N === undefined ? undefined : Number(process.env.BENCH_N);
  if (envRows !== undefined && !(Number.isInteger(envRows) && envRows > 0 && envRows % 1000 === 0)) {
    throw new Error(`BENCH_N must be a positive multiple of 1000 (e.g. BENCH_N=1000000), got ${process.env.BENCH_N}`);
  }
  if (a.only !== undefined && a.only !== 'kite' && a.only !== 'milvus') throw new Error(`--only takes kite or milvus, got ${a.only}`);
  return {
    rows: a.rows ?? envRows ?? 100_000,
    seconds: a.seconds ?? 15,
    insertConcurrency: a['insert-concurrency'] ?? 2,
    // 1,000 queries: the recall of one run is then within about +-0.002 (100 queries moved it by +-0.005 between
    // builds of the same graph), close enough to compare two servers whose recall differs in the third decimal.
    recallQueries: a['recall-queries'] ?? 1000,
    cluster: a.cluster ?? false,
    querynodes: a.querynodes ?? 1,
    datanodes: a.datanodes ?? 1,
    bin: a.bin ?? path.join(repoRoot(), '.cache', 'bin', 'bench-vs-milvus'),
    only: a.only,
    smoke: a.smoke ?? false,
    cpuProf: a['cpu-prof'] === undefined ? undefined : path.resolve(a['cpu-prof']),
  };
}

/** One row of the Go program's JSON (test/bench/go/main.go, type Row). */
interface Row {
  name: string;
  value: number;
  unit: string;
  requests?: number;
  p50Ms?: number;
  p99Ms?: number;
  serverCpuS: number;
  clientCpuS: number;
  cpuPer: string;
  cpuUnits: number;
  recall?: number;
  elapsedS: number;
}

interface Result {
  address: string;
  serverVersion: string;
  n: number;
  dim: number;
  rows: Row[];
  recall: number;
}

interface Target {
  label: string;
  address: string;
  /** Processes whose CPU (with their descendants) counts as the server's. */
  pids: number[];
  dispose(): Promise<void>;
}

const MILVUS_READY_MS = 240_000;

/**
 * Starts Milvus 2.3.5 with test/python/milvus_ref.py's bootstrap and port list: a Python of the Milvus virtualenv
 * picks the free ports with milvus_ref's own free-port function, prints the proxy port, then replaces itself with
 * the bootstrap, so the pid seen here is the server's parent (the `milvus run standalone` binary is its child).
 */
async function startMilvus(): Promise<Target> {
  const venv = process.env.KITE_MILVUS_VENV ?? path.join(repoRoot(), '.cache', 'milvus-venv');
  const python = path.join(venv, 'bin', 'python');
  if (!fs.existsSync(python)) throw new Error(`no Milvus virtualenv at ${venv} (KITE_MILVUS_VENV): run scripts/install-milvus-venv.sh`);
  const dataDir = makeTempDir('milvus-bench');
  const logFile = path.join(dataDir, 'milvus-2.3.5.bench.log');
  const launcher = [
    'import os, sys',
    `sys.path.insert(0, ${JSON.stringify(path.join(repoRoot(), 'test', 'python'))})`,
    'import milvus_ref as m',
    'ports = m._free_ports(len(m._PORT_KEYS) + 3)',
    'metrics, etcd_client, etcd_peer = ports[-3:]',
    'pairs = [f"{k}={p}" for k, p in zip(m._PORT_KEYS, ports)]',
    'print(f"proxy_port={ports[m._PORT_KEYS.index(\'proxy_port\')]}", flush=True)',
    'os.execv(sys.executable, [sys.executable, "-c", m._BOOTSTRAP, sys.argv[1], str(metrics), str(etcd_client), str(etcd_peer), *pairs])',
  ].join('\n');
  const proc = new ManagedProcess({ name: 'milvus 2.3.5', command: python, args: ['-c', launcher, dataDir], logFile, cwd: repoRoot() });
  proc.start();
  const dispose = async (): Promise<void> => {
    await proc.stop(30_000);
    if (process.env.KITE_KEEP_TEST_DATA !== '1') removeTempDir(dataDir);
  };
  try {
    const deadline = Date.now() + MILVUS_READY_MS;
    let port: number | undefined;
    let lastError = 'no proxy port in the log yet';
    while (Date.now() < deadline) {
      if (!proc.running) throw new Error(`milvus exited before it was ready\n--- log tail ---\n${proc.logTail()}`);
      port ??= Number(/proxy_port=(\d+)/.exec(fs.readFileSync(logFile, 'utf8'))?.[1]) || undefined;
      if (port !== undefined && (await canConnect(port))) {
        const client = new MilvusClient({ address: `127.0.0.1:${port}`, timeout: 5_000, maxRetries: 0 });
        try {
          const v = await client.getVersion();
          if (v.version) return { label: `Milvus ${v.version}`, address: `127.0.0.1:${port}`, pids: [proc.pid!], dispose };
          lastError = 'no version yet';
        } catch (e) {
          lastError = (e as Error).message;
        } finally {
          await client.closeConnection().catch(() => undefined);
        }
      }
      await sleep(1_000);
    }
    throw new Error(`milvus not ready after ${MILVUS_READY_MS} ms (${lastError})\n--- log tail ---\n${proc.logTail()}`);
  } catch (e) {
    await dispose();
    throw e;
  }
}

/** Runs the Go load generator against one target; its progress goes to this process's stderr. */
async function runLoad(o: Options, t: Target): Promise<Result> {
  const args = ['--address', t.address, '--pids', t.pids.join(','), '--n', String(o.rows), '--seconds', String(o.seconds),
    '--insert-concurrency', String(o.insertConcurrency), '--recall-queries', String(o.recallQueries), ...(o.smoke ? ['--smoke'] : [])];
  process.stderr.write(`\n== ${t.label} at ${t.address} (server pids ${t.pids.join(',')}): ${o.bin} ${args.join(' ')}\n`);
  const child = spawn(o.bin, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  const code = await new Promise<number | null>((resolve, reject) => child.on('error', reject).on('close', resolve));
  if (code !== 0) throw new Error(`load generator against ${t.label} exited with ${code}`);
  return JSON.parse(out) as Result;
}

/** `pids` and all their descendants, from /proc (a process that exits meanwhile is skipped). */
function processTree(pids: number[]): number[] {
  const children = new Map<number, number[]>();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(e));
      children.set(ppid, list);
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  for (const p of pids) walk(p);
  return out;
}

/** Resident memory (VmRSS) of `pids` and their descendants, in bytes. */
function treeRss(pids: number[]): number {
  let kb = 0;
  for (const p of processTree(pids)) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      // gone
    }
  }
  return kb * 1024;
}

/** Samples the server's resident memory every 500 ms while a run lasts: the peak and the last sample. */
function rssSampler(pids: number[]): { stop(): { peak: number; end: number } } {
  let peak = 0;
  let last = 0;
  const sample = (): void => {
    last = treeRss(pids);
    peak = Math.max(peak, last);
  };
  sample();
  const t = setInterval(sample, 500);
  return {
    stop: () => {
      clearInterval(t);
      sample();
      return { peak, end: last };
    },
  };
}

const loadavg = (): string => os.loadavg().map((x) => x.toFixed(2)).join(' ');

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]): string => r.map((cell, c) => (cell ?? '').padEnd(widths[c]!)).join(' | ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.slice(1).map(line)].join('\n');
}

const num = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

function valueCell(r: Row | undefined): string {
  if (r === undefined) return '-';
  let s = `${num(r.value)} ${r.unit}`;
  if (r.p50Ms !== undefined && r.p99Ms !== undefined) s += ` (p50 ${num(r.p50Ms)} / p99 ${num(r.p99Ms)} ms)`;
  if (r.recall !== undefined) s += ` recall ${r.recall.toFixed(3)}`;
  return s;
}

/** Server CPU per request (ms), per 1,000 inserted rows (ms), or in total (s) for the one-off phases. */
function cpu(r: Row | undefined, which: 'serverCpuS' | 'clientCpuS'): number | undefined {
  if (r === undefined) return undefined;
  return r.cpuUnits > 0 ? (r[which] * 1000) / r.cpuUnits : r[which];
}

function cpuCell(r: Row | undefined, which: 'serverCpuS' | 'clientCpuS'): string {
  const v = cpu(r, which);
  if (r === undefined || v === undefined) return '-';
  return r.cpuUnits > 0 ? `${num(v)} ms/${r.cpuPer === 'request' ? 'req' : '1k rows'}` : `${num(v)} s`;
}

const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined || b === 0 ? '-' : (a / b).toFixed(2));

async function main(): Promise<void> {
  const o = readOptions(process.argv.slice(2));
  if (!fs.existsSync(o.bin)) throw new Error(`no load generator at ${o.bin}: make bench-vs-milvus builds it (cd test/bench/go && go build -o ${o.bin} .)`);
  const runs: { label: string; load: string; result: Result; rss: { peak: number; end: number } }[] = [];
  const failures: string[] = [];
  // A server that fails to start or a run that fails is reported under the table; the others still print.
  const measure = async (start: () => Promise<Target>): Promise<void> => {
    const before = loadavg();
    let t: Target | undefined;
    try {
      t = await start();
      const rss = rssSampler(t.pids);
      const result = await runLoad(o, t);
      runs.push({ label: t.label, load: before, result, rss: rss.stop() });
    } catch (e) {
      failures.push(`${t?.label ?? 'a server'}: ${(e as Error).message}`);
      console.error(e);
    } finally {
      await t?.dispose();
    }
  };
  if (o.only !== 'milvus') {
    await measure(async () => {
      const s = await startStandalone(o.cpuProf === undefined ? {} : { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', o.cpuProf] });
      return { label: 'Kite standalone', address: s.address, pids: [s.pid!], dispose: () => s.dispose() };
    });
  }
  if (o.only !== 'kite') await measure(startMilvus);
  if (o.cluster && o.only !== 'milvus') {
    await measure(async () => {
      const c = await KiteCluster.start({ querynodes: o.querynodes, datanodes: o.datanodes, proxies: 1 });
      const pids = [c.info.etcd.pid, c.info.kafka.pid, ...c.info.components.map((x) => x.pid)];
      return { label: `Kite cluster (${o.querynodes} QN, ${o.datanodes} DN, 1 proxy, etcd, Kafka)`, address: c.address, pids, dispose: () => c.dispose() };
    });
  }

  if (runs.length === 0) throw new Error(`nothing measured:\n${failures.join('\n')}`);
  const milvus = runs.find((r) => r.label.startsWith('Milvus'));
  const kites = runs.filter((r) => r !== milvus);
  const names = [...new Set(runs.flatMap((r) => r.result.rows.map((x) => x.name)))];
  const header = ['measure'];
  for (const r of runs) header.push(r.label);
  if (milvus) for (const k of kites) header.push(`${k.label.replace(/ \(.*/, '')} / Milvus`);
  for (const r of runs) header.push(`server CPU ${r.label.replace(/ \(.*/, '')}`);
  if (milvus) for (const k of kites) header.push(`CPU ratio ${k.label.replace(/ \(.*/, '')} / Milvus`);
  for (const r of runs) header.push(`client CPU (${r.label.replace(/ \(.*/, '')} run)`);
  const lines = [header];
  const find = (run: { result: Result } | undefined, name: string): Row | undefined => run?.result.rows.find((x) => x.name === name);
  for (const name of names) {
    const line = [name];
    for (const r of runs) line.push(valueCell(find(r, name)));
    if (milvus) for (const k of kites) line.push(ratio(find(k, name)?.value, find(milvus, name)?.value));
    for (const r of runs) line.push(cpuCell(find(r, name), 'serverCpuS'));
    if (milvus) for (const k of kites) line.push(ratio(cpu(find(k, name), 'serverCpuS'), cpu(find(milvus, name), 'serverCpuS')));
    for (const r of runs) line.push(cpuCell(find(r, name), 'clientCpuS'));
    lines.push(line);
  }
  const recallLine = ['recall@10 (ef 64, nq=1, against brute force)'];
  for (const r of runs) recallLine.push(r.result.recall.toFixed(3));
  lines.push(recallLine);
  // Resident memory of the server's processes (all of them, descendants included), sampled every 500 ms over the run.
  const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;
  for (const which of ['end', 'peak'] as const) {
    const line = [which === 'end' ? 'server RSS at the end (all processes)' : 'server RSS peak (all processes)'];
    for (const r of runs) line.push(mib(r.rss[which]));
    if (milvus) for (const k of kites) line.push(ratio(k.rss[which], milvus.rss[which]));
    lines.push(line);
  }

  const first = runs[0]!.result;
  console.log(`\n${first.n} x ${first.dim} clustered vectors, 1 shard, HNSW M 16 efConstruction 200, search ef 64 top 10, Bounded consistency;`);
  const pace = o.smoke ? 'smoke run: every operation once' : `${o.seconds} s per search/query row, inserts ${o.insertConcurrency} in flight`;
  console.log(`load generator: Milvus Go SDK client/v2, ${pace}; ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'})`);
  for (const r of runs) console.log(`  ${r.label} (server ${r.result.serverVersion || '?'}): load average before ${r.load}`);
  console.log(`  after: ${loadavg()}`);
  console.log('value ratios are Kite / Milvus (higher is better for rows/s and QPS, lower for s); CPU ratios: lower is better.\n');
  console.log(table(lines));
  for (const f of failures) console.log(`\nNOT MEASURED: ${f}`);
  if (failures.length > 0) process.exitCode = 1;
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
