import { Command, Option } from 'commander';
import { createLogger, loadConfig, toKiteError, type KiteConfig } from '@kite/common';
import type { Role } from '@kite/session';
import { clusterDown, clusterStatus, clusterUp } from './cluster';
import { runRole } from './role';
import { startStandalone } from './standalone';

const int = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`"${v}" is not a non-negative integer`);
  return n;
};

const program = new Command();
program.name('kite').description('Kite: a Milvus-compatible vector database').showHelpAfterError();

program
  .command('standalone')
  .description('run every component in one process with embedded backends')
  .option('--config <file>', 'YAML configuration file')
  .option('--data-dir <dir>', 'data directory')
  .option('--port <port>', 'Milvus gRPC port', int)
  .option('--metrics-port <port>', 'HTTP port for /metrics, /healthz, /ready', int)
  .action(async (opts: { config?: string; dataDir?: string; port?: number; metricsPort?: number }) => {
    const cfg = loadConfig({ file: opts.config, overrides: { common: { dataDir: opts.dataDir }, proxy: { port: opts.port, metricsPort: opts.metricsPort } } });
    const log = createLogger({ role: 'standalone' });
    const s = await startStandalone(cfg, log);
    s.host.stopOnSignals();
  });

for (const role of ['proxy', 'querycoord', 'querynode', 'datanode'] as Role[]) {
  program
    .command(role)
    .description(`run one ${role} process (backends from the config: etcd, Kafka)`)
    .option('--config <file>', 'YAML configuration file; KITE_* variables and flags override it')
    .option('--port <port>', 'gRPC port', int)
    .option('--metrics-port <port>', 'HTTP port for /metrics, /healthz, /ready', int)
    .action(async (opts: { config?: string; port?: number; metricsPort?: number }) => {
      const cfg: KiteConfig = loadConfig({ file: opts.config, overrides: { [role]: { port: opts.port, metricsPort: opts.metricsPort } } });
      const log = createLogger({ role });
      const r = await runRole(role, cfg, log);
      log.info({ grpcPort: r.grpcPort, metricsPort: r.host.http?.port, serverID: r.serverID() }, `${role} is ready`);
      r.host.stopOnSignals();
    });
}

const cluster = program.command('cluster').description('a local cluster of separate processes on loopback');
cluster
  .command('up')
  .requiredOption('--data-dir <dir>', 'cluster data directory (etcd, Kafka, objects, logs, cluster.json)')
  .addOption(new Option('--querynodes <n>', 'query nodes').argParser(int).default(2))
  .addOption(new Option('--datanodes <n>', 'data nodes').argParser(int).default(1))
  .addOption(new Option('--proxies <n>', 'proxies').argParser(int).default(1))
  .addOption(new Option('--port <port>', 'Milvus gRPC port of the first proxy').argParser(int).default(19530))
  .option('--session-ttl <seconds>', 'session lease TTL', int)
  .action(async (o: { dataDir: string; querynodes: number; datanodes: number; proxies: number; port: number; sessionTtl?: number }) => {
    const c = await clusterUp({ ...o, sessionTtlSeconds: o.sessionTtl });
    process.stdout.write(`${JSON.stringify(c, null, 2)}\n`);
  });
cluster
  .command('down')
  .requiredOption('--data-dir <dir>', 'cluster data directory')
  .action(async (o: { dataDir: string }) => clusterDown(o.dataDir));
cluster
  .command('status')
  .requiredOption('--data-dir <dir>', 'cluster data directory')
  .action(async (o: { dataDir: string }) => {
    process.stdout.write(`${JSON.stringify(await clusterStatus(o.dataDir), null, 2)}\n`);
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  const k = toKiteError(e);
  process.stderr.write(`kite: ${k.message}\n`);
  process.exit(2);
});
