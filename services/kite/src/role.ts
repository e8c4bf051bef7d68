import type { KiteConfig, Logger } from '@kite/common';
import { startHttp, type HttpServer } from '@kite/observe';
import { DataNode } from '@kite/datanode';
import { Proxy } from '@kite/proxy';
import { QueryCoordServer } from '@kite/querycoord';
import { QueryNode } from '@kite/querynode';
import type { Role } from '@kite/session';
import { openBackends } from './backends';

export interface RunningRole {
  role: Role;
  serverID(): number;
  grpcPort: number;
  http: HttpServer;
  /** Graceful stop: marks the session stopping, lets work move away, then revokes the lease. */
  stop(): Promise<void>;
}

/** Starts one component as its own process, on the backends its configuration names. */
export async function runRole(role: Role, cfg: KiteConfig, log: Logger): Promise<RunningRole> {
  const b = await openBackends(cfg, log);
  let grpcPort = 0;
  let ready = (): boolean => false;
  let serverID = (): number => 0;
  let stopComponent: () => Promise<void>;
  let metricsPort: number;
  switch (role) {
    case 'querycoord': {
      const s = new QueryCoordServer(cfg, b.store, b.wal, b.objects, log);
      metricsPort = cfg.querycoord.metricsPort;
      // /healthz must answer while a standby waits for the exclusive session, so HTTP starts first.
      serverID = () => s.serverID;
      const http = await startHttp(cfg.common.listenHost, metricsPort, { ready: () => ready(), details: () => ({ role, serverID: serverID(), active: !!s.coordinator }) }, log);
      await s.start(cfg.querycoord.port);
      grpcPort = Number(s.address.split(':').pop());
      ready = () => !!s.coordinator;
      return { role, grpcPort, http, serverID: () => serverID(), stop: async () => (await s.stop(), await http.close(), await b.close()) };
    }
    case 'querynode': {
      const n = new QueryNode(cfg, b.store, b.wal, b.objects, log);
      await n.start(cfg.querynode.port);
      grpcPort = Number(n.address.split(':').pop());
      ready = () => n.session?.live === true;
      serverID = () => n.nodeID;
      stopComponent = () => n.stop();
      metricsPort = cfg.querynode.metricsPort;
      break;
    }
    case 'datanode': {
      const n = new DataNode(cfg, b.store, b.wal, b.objects, log);
      await n.start(cfg.datanode.port);
      grpcPort = n.port;
      ready = () => n.session?.live === true;
      serverID = () => n.session?.info?.serverID ?? 0;
      stopComponent = () => n.stop();
      metricsPort = cfg.datanode.metricsPort;
      break;
    }
    case 'proxy': {
      const p = new Proxy(cfg, b.store, b.wal, log);
      grpcPort = await p.start(cfg.proxy.port);
      ready = () => p.ready();
      serverID = () => p.serverID;
      stopComponent = () => p.stop();
      metricsPort = cfg.proxy.metricsPort;
      break;
    }
  }
  const http = await startHttp(cfg.common.listenHost, metricsPort, { ready: () => ready(), details: () => ({ role, serverID: serverID() }) }, log);
  return {
    role,
    grpcPort,
    http,
    serverID: () => serverID(),
    async stop() {
      await stopComponent();
      await http.close();
      await b.close();
    },
  };
}
