import type { KiteConfig, Logger } from '@kite/common';
import { startHttp, type HttpServer } from '@kite/observe';
import { DataNode } from '@kite/datanode';
import { Proxy } from '@kite/proxy';
import { QueryCoordServer } from '@kite/querycoord';
import { QueryNode } from '@kite/querynode';
import type { Role } from '@kite/session';
import { openBackends } from './backends';
import { listening, StartedParts, type Setting } from './startup';

export interface RunningRole {
  role: Role;
  serverID(): number;
  grpcPort: number;
  http: HttpServer;
  /** Graceful stop: marks the session stopping, lets work move away, then revokes the lease. */
  stop(): Promise<void>;
}

/** A component that runs as one process: started on a gRPC port, stopped gracefully. */
interface Component {
  /** Binds the gRPC port and registers; returns the bound port. */
  start(): Promise<number>;
  stop(): Promise<void>;
  ready(): boolean;
  serverID(): number;
  details(): Record<string, unknown>;
}

function component(role: Role, cfg: KiteConfig, b: Awaited<ReturnType<typeof openBackends>>, log: Logger): Component {
  switch (role) {
    case 'querycoord': {
      const s = new QueryCoordServer(cfg, b.store, b.wal, b.objects, log);
      return {
        start: async () => (await s.start(cfg.querycoord.port), Number(s.address.split(':').pop())),
        stop: () => s.stop(),
        ready: () => !!s.coordinator,
        serverID: () => s.serverID,
        details: () => ({ active: !!s.coordinator }),
      };
    }
    case 'querynode': {
      const n = new QueryNode(cfg, b.store, b.wal, b.objects, log);
      return {
        start: async () => (await n.start(cfg.querynode.port), Number(n.address.split(':').pop())),
        stop: () => n.stop(),
        ready: () => n.session?.live === true,
        serverID: () => n.nodeID,
        details: () => ({}),
      };
    }
    case 'datanode': {
      const n = new DataNode(cfg, b.store, b.wal, b.objects, log);
      return {
        start: async () => (await n.start(cfg.datanode.port), n.port),
        stop: () => n.stop(),
        ready: () => n.session?.live === true,
        serverID: () => n.session?.info?.serverID ?? 0,
        details: () => ({}),
      };
    }
    case 'proxy': {
      const p = new Proxy(cfg, b.store, b.wal, log);
      return {
        start: () => p.start(cfg.proxy.port),
        stop: () => p.stop(),
        ready: () => p.ready(),
        serverID: () => p.serverID,
        details: () => ({}),
      };
    }
  }
}

/**
 * Starts one component as its own process, on the backends its configuration names. Its HTTP server listens first
 * (/healthz answers while a standby coordinator waits, /ready says 503 until the component is registered), then
 * its gRPC server, before it registers a session: a port that cannot be bound (or a data dir held by another
 * process) rejects with the address and the setting to change before the cluster ever sees this process, after
 * what had started is stopped again.
 */
export async function runRole(role: Role, cfg: KiteConfig, log: Logger): Promise<RunningRole> {
  const settings = {
    port: { flag: '--port', key: `${role}.port` },
    metricsPort: { flag: '--metrics-port', key: `${role}.metricsPort` },
    dataDir: { key: 'common.dataDir' },
  } satisfies Record<string, Setting>;
  const parts = new StartedParts(log);
  try {
    const b = await openBackends(cfg, log, settings.dataDir);
    parts.add('backends', b.close);
    const c = component(role, cfg, b, log);
    const checks = { ready: () => c.ready(), details: () => ({ role, serverID: c.serverID(), ...c.details() }) };
    const http = await listening('HTTP server for /metrics /healthz /ready', settings.metricsPort, () =>
      startHttp(cfg.common.listenHost, cfg[role].metricsPort, checks, log),
    );
    parts.add('HTTP server', () => http.close());
    // Stopped first: /healthz keeps answering while the component hands its work over.
    parts.add(role, () => c.stop());
    const grpcPort = await listening(`${role} gRPC server`, settings.port, () => c.start());
    return { role, grpcPort, http, serverID: () => c.serverID(), stop: () => parts.stopAll() };
  } catch (e) {
    return parts.fail(e);
  }
}
