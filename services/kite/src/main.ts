import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { createLogger, KiteError, loadConfig, toKiteError, unknownKiteEnvWarnings, type KiteConfig } from '@kite/common';
import { KITE_VERSION, type Role } from '@kite/session';
import { clusterDown, clusterRollingRestart, clusterStatus, clusterUp } from './cluster';
import { explainConfig, formatConfig } from './config-print';
import { runRole } from './role';
import { startStandalone } from './standalone';

const int = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`"${v}" is not a non-negative integer`);
  return n;
};

/** pino's levels, quietest last. */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };

const program = new Command();
program
  .name('kite')
  .description('Kite: a Milvus-compatible vector database')
  .version(`kite ${pkg.version} (Milvus server version ${KITE_VERSION})`, '-V, --version', 'print the version and exit')
  .addOption(new Option('--log-level <level>', 'log level (default: KITE_LOG_LEVEL, else info)').choices(LOG_LEVELS))
  .showHelpAfterError();

/** The log level: --log-level, else KITE_LOG_LEVEL (checked here, so a bad value is an error rather than a crash), else info. */
function logLevel(): string {
  const flag = (program.opts() as { logLevel?: string }).logLevel;
  if (flag) return flag;
  const env = process.env.KITE_LOG_LEVEL;
  if (env === undefined || env === '') return 'info';
  if (!LOG_LEVELS.includes(env)) {
    throw new KiteError('ParameterInvalid', `KITE_LOG_LEVEL=${env} is not a log level: use one of ${LOG_LEVELS.join(', ')}`);
  }
  return env;
}

program.hook('preAction', () => {
  logLevel();
  for (const w of unknownKiteEnvWarnings(process.env)) process.stderr.write(`kite: warning: ${w}\n`);
});

program
  .command('standalone')
  .description('run every component in one process with embedded backends')
  .option('--config <file>', 'YAML configuration file')
  .option('--data-dir <dir>', 'data directory')
  .option('--port <port>', 'Milvus gRPC port', int)
  .option('--metrics-port <port>', 'HTTP port for /metrics, /healthz, /ready', int)
  .action(async (opts: { config?: string; dataDir?: string; port?: number; metricsPort?: number }) => {
    const cfg = loadConfig({ file: opts.config, overrides: { common: { dataDir: opts.dataDir }, proxy: { port: opts.port, metricsPort: opts.metricsPort } } });
    const log = createLogger({ role: 'standalone' }, logLevel());
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
      const log = createLogger({ role }, logLevel());
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
  .option('--etcd-members <n>', 'etcd members: 1, or 3 to survive the loss of one (default 1, or what the data dir has)', int)
  .option('--kafka-brokers <n>', 'Kafka brokers: 1, or 3 with replication factor 3 and min.insync.replicas 2 (default 1, or what the data dir has)', int)
  .action(async (o: { dataDir: string; querynodes: number; datanodes: number; proxies: number; port: number; sessionTtl?: number; etcdMembers?: number; kafkaBrokers?: number }) => {
    const flag = (program.opts() as { logLevel?: string }).logLevel;
    const c = await clusterUp({
      ...o,
      sessionTtlSeconds: o.sessionTtl,
      logLevel: flag,
      progress: (line) => process.stderr.write(`${line}\n`),
    });
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
cluster
  .command('rolling-restart')
  .description('restart every component one at a time (SIGTERM, start, wait until it has its work back); progress on stderr, a JSON summary on stdout')
  .requiredOption('--data-dir <dir>', 'cluster data directory')
  .option('--stop-timeout <seconds>', 'per component: SIGTERM to SIGKILL (default 70)', int)
  .option('--settle-timeout <seconds>', 'per component: how long its work may take to come back (default 120)', int)
  .action(async (o: { dataDir: string; stopTimeout?: number; settleTimeout?: number }) => {
    const t0 = Date.now();
    const restarts = await clusterRollingRestart({
      dataDir: o.dataDir,
      stopTimeoutMs: o.stopTimeout === undefined ? undefined : o.stopTimeout * 1000,
      settleTimeoutMs: o.settleTimeout === undefined ? undefined : o.settleTimeout * 1000,
      progress: (line) => process.stderr.write(`${line}\n`),
    });
    process.stdout.write(`${JSON.stringify({ restarts, totalSeconds: (Date.now() - t0) / 1000 }, null, 2)}\n`);
  });

program
  .command('config')
  .description('the configuration')
  .command('print')
  .description('print the effective configuration, each key with its value and where it came from (default, file, env, flag); secrets masked')
  .option('--config <file>', 'YAML configuration file')
  .action((o: { config?: string }) => {
    process.stdout.write(formatConfig(explainConfig({ file: o.config }).entries));
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  const k = toKiteError(e);
  process.stderr.write(`kite: ${k.message}\n`);
  process.exit(2);
});
