import * as path from 'node:path';
import { createLogger, type KiteConfig, type Logger } from '@kite/common';
import { ComponentHost, type Setting } from '@kite/host';
import { Proxy } from '@kite/proxy';
import { QueryCoordServer } from '@kite/querycoord';
import { QueryNode } from '@kite/querynode';
import { DataNode } from '@kite/datanode';
import { openBackends } from './backends';

export interface Standalone {
  port: number;
  metricsPort: number;
  host: ComponentHost;
  stop(): Promise<void>;
}

/** The settings `kite standalone` names when a port or the data dir is taken. */
const SETTINGS = {
  dataDir: { flag: '--data-dir', key: 'common.dataDir' },
  port: { flag: '--port', key: 'proxy.port' },
  metricsPort: { flag: '--metrics-port', key: 'proxy.metricsPort' },
} satisfies Record<string, Setting>;

/**
 * Standalone Kite: the coordinator, a data node, a query node and the proxy in one process (one host), talking over
 * loopback gRPC exactly as in a cluster, on the embedded meta store, WAL and object store under the data dir.
 *
 * Resolves once every server listens; the HTTP server starts last, so nothing claims an endpoint before the Milvus
 * port listens, and "ready" is logged only then. A port that cannot be bound or a data dir held by another process
 * rejects (ListenFailed, DirectoryLocked) after what had started is stopped again. `open` opens the backends (tests
 * wrap it, e.g. to make WAL appends fail).
 */
export async function startStandalone(
  cfg: KiteConfig,
  log: Logger = createLogger({ role: 'standalone' }),
  open: typeof openBackends = openBackends,
): Promise<Standalone> {
  const dir = path.resolve(cfg.common.dataDir);
  const host = new ComponentHost(cfg, log, { singleProcess: true });
  try {
    const { store, wal, objects, close } = await open(cfg, log, SETTINGS.dataDir);
    host.add('backends', close);
    // The internal servers take any free port (no port setting to name).
    const child = (component: string): Logger => log.child({ component });
    await host.serve(new QueryCoordServer(cfg, store, wal, objects, child('querycoord')), { store, port: 0, log: child('querycoord') });
    await host.serve(new DataNode(cfg, store, wal, objects, child('datanode')), { store, port: 0, log: child('datanode') });
    await host.serve(new QueryNode(cfg, store, wal, objects, child('querynode')), { store, port: 0, log: child('querynode') });
    const proxy = new Proxy(cfg, store, wal, child('proxy'));
    const { port } = await host.serve(proxy, { store, port: cfg.proxy.port, portSetting: SETTINGS.port, log: child('proxy') });
    const http = await host.startHttp(cfg.proxy.metricsPort, SETTINGS.metricsPort);
    host.started();
    log.info({ port, metricsPort: http.port, dataDir: dir }, 'Kite standalone is ready');
    return { port, metricsPort: http.port, host, stop: () => host.stop() };
  } catch (e) {
    return host.fail(e);
  }
}
