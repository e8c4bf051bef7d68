import * as path from 'node:path';
import { createLogger, type KiteConfig, type Logger } from '@kite/common';
import { Proxy } from '@kite/proxy';
import { QueryCoordServer } from '@kite/querycoord';
import { QueryNode } from '@kite/querynode';
import { DataNode } from '@kite/datanode';
import { startHttp } from '@kite/observe';
import { openBackends } from './backends';
import { listening, StartedParts, type Setting } from './startup';

export interface Standalone {
  port: number;
  metricsPort: number;
  stop(): Promise<void>;
}

/** The settings `kite standalone` names when a port or the data dir is taken. */
const SETTINGS = {
  dataDir: { flag: '--data-dir', key: 'common.dataDir' },
  port: { flag: '--port', key: 'proxy.port' },
  metricsPort: { flag: '--metrics-port', key: 'proxy.metricsPort' },
} satisfies Record<string, Setting>;

/**
 * Standalone Kite: the coordinator, a data node, a query node and the proxy in one process, talking over loopback
 * gRPC exactly as in a cluster, on the embedded meta store, WAL and object store under the data dir.
 *
 * Resolves once every server listens; "ready" is logged only then. A port that cannot be bound or a data dir held
 * by another process rejects (ListenFailed, DirectoryLocked) after what had started is stopped again. `open`
 * opens the backends (tests wrap it, e.g. to make WAL appends fail).
 */
export async function startStandalone(
  cfg: KiteConfig,
  log: Logger = createLogger({ role: 'standalone' }),
  open: typeof openBackends = openBackends,
): Promise<Standalone> {
  const dir = path.resolve(cfg.common.dataDir);
  const parts = new StartedParts(log);
  try {
    const { store, wal, objects, close } = await open(cfg, log, SETTINGS.dataDir);
    parts.add('backends', close);
    // The internal servers take any free port (undefined: no port setting to name).
    const coord = new QueryCoordServer(cfg, store, wal, objects, log.child({ component: 'querycoord' }));
    parts.add('query coordinator', () => coord.stop());
    await listening('query coordinator gRPC server', undefined, () => coord.start(0));
    const dn = new DataNode(cfg, store, wal, objects, log.child({ component: 'datanode' }));
    parts.add('data node', () => dn.stop());
    await listening('data node gRPC server', undefined, () => dn.start(0));
    const qn = new QueryNode(cfg, store, wal, objects, log.child({ component: 'querynode' }));
    parts.add('query node', () => qn.stop());
    await listening('query node gRPC server', undefined, () => qn.start(0));
    const proxy = new Proxy(cfg, store, wal, log.child({ component: 'proxy' }));
    parts.add('proxy', () => proxy.stop());
    const port = await listening('Milvus gRPC server', SETTINGS.port, () => proxy.start(cfg.proxy.port));
    const http = await listening('HTTP server for /metrics /healthz /ready', SETTINGS.metricsPort, () =>
      startHttp(cfg.common.listenHost, cfg.proxy.metricsPort, { ready: () => true }, log),
    );
    parts.add('HTTP server', () => http.close());
    log.info({ port, metricsPort: http.port, dataDir: dir }, 'Kite standalone is ready');
    return { port, metricsPort: http.port, stop: () => parts.stopAll() };
  } catch (e) {
    return parts.fail(e);
  }
}
