import { Command } from 'commander';
import { createLogger, loadConfig, toKiteError } from '@kite/common';
import { startStandalone } from './standalone';

const program = new Command();
program.name('kite').description('Kite: a Milvus-compatible vector database');

program
  .command('standalone')
  .description('run every component in one process with embedded backends')
  .option('--config <file>', 'YAML configuration file')
  .option('--data-dir <dir>', 'data directory')
  .option('--port <port>', 'Milvus gRPC port', (v) => Number(v))
  .option('--metrics-port <port>', 'HTTP port for /metrics, /healthz, /ready', (v) => Number(v))
  .action(async (opts: { config?: string; dataDir?: string; port?: number; metricsPort?: number }) => {
    const cfg = loadConfig({
      file: opts.config,
      overrides: { common: { dataDir: opts.dataDir }, proxy: { port: opts.port, metricsPort: opts.metricsPort } },
    });
    const log = createLogger({ role: 'standalone' });
    const s = await startStandalone(cfg, log);
    let stopping = false;
    const shutdown = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      s.stop().then(() => process.exit(0), () => process.exit(1));
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  const k = toKiteError(e);
  process.stderr.write(`kite: ${k.message}\n`);
  process.exit(2);
});
