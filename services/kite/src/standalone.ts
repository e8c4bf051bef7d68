import * as path from 'node:path';
import { createLogger, type KiteConfig, type Logger } from '@kite/common';
import { Proxy } from '@kite/proxy';
import { QueryCoordServer } from '@kite/querycoord';
import { QueryNode } from '@kite/querynode';
import { DataNode } from '@kite/datanode';
import { startHttp } from '@kite/observe';
import { openBackends, type Backends } from './backends';

export interface Standalone {
  port: number;
  stop(): Promise<void>;
}

/**
 * Standalone Kite: the coordinator, a data node, a query node and the proxy in one process, talking over loopback
 * gRPC exactly as in a cluster, on the embedded meta store, WAL and object store under the data dir.
 */
export async function startStandalone(
  cfg: KiteConfig,
  log: Logger = createLogger({ role: 'standalone' }),
  open: (cfg: KiteConfig, log: Logger) => Promise<Backends> = openBackends,
): Promise<Standalone> {
  const dir = path.resolve(cfg.common.dataDir);
  const { store, wal, objects, close } = await open(cfg, log);
  const coord = new QueryCoordServer(cfg, store, wal, objects, log.child({ component: 'querycoord' }));
  await coord.start(0);
  const dn = new DataNode(cfg, store, wal, objects, log.child({ component: 'datanode' }));
  await dn.start(0);
  const qn = new QueryNode(cfg, store, wal, objects, log.child({ component: 'querynode' }));
  await qn.start(0);
  const proxy = new Proxy(cfg, store, wal, log.child({ component: 'proxy' }));
  const port = await proxy.start(cfg.proxy.port);
  const http = await startHttp(cfg.common.listenHost, cfg.proxy.metricsPort, { ready: () => true }, log);
  log.info({ port, metricsPort: http.port, dataDir: dir }, 'Kite standalone is ready');
  return {
    port,
    async stop() {
      await http.close();
      await proxy.stop();
      await qn.stop();
      await dn.stop();
      await coord.stop();
      await close();
    },
  };
}
