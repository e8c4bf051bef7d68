import type { KiteConfig, Logger } from '@kite/common';
import { DataNode } from '@kite/datanode';
import { ComponentHost, type Hosted, type Setting } from '@kite/host';
import { Proxy } from '@kite/proxy';
import { QueryCoordServer } from '@kite/querycoord';
import { QueryNode } from '@kite/querynode';
import type { Role } from '@kite/session';
import { openBackends, type Backends } from './backends';

export interface RunningRole {
  role: Role;
  serverID(): number;
  grpcPort: number;
  host: ComponentHost;
}

/** The component of a role. */
function hosted(role: Role, cfg: KiteConfig, b: Backends, log: Logger): Hosted {
  switch (role) {
    case 'proxy':
      return new Proxy(cfg, b.store, b.wal, log);
    case 'querycoord':
      return new QueryCoordServer(cfg, b.store, b.wal, b.objects, log);
    case 'querynode':
      return new QueryNode(cfg, b.store, b.wal, b.objects, log);
    case 'datanode':
      return new DataNode(cfg, b.store, b.wal, b.objects, log);
  }
}

/**
 * Starts one component as its own process, on the backends its configuration names. Its HTTP server listens first
 * (/healthz answers while a standby coordinator waits, /ready says 503 until the component serves), then its gRPC
 * server, before it registers a session: a port that cannot be bound (or a data dir held by another process)
 * rejects with the address and the setting to change before the cluster ever sees this process, after what had
 * started is stopped again.
 */
export async function runRole(role: Role, cfg: KiteConfig, log: Logger): Promise<RunningRole> {
  const settings = {
    port: { flag: '--port', key: `${role}.port` },
    metricsPort: { flag: '--metrics-port', key: `${role}.metricsPort` },
    dataDir: { key: 'common.dataDir' },
  } satisfies Record<string, Setting>;
  const host = new ComponentHost(cfg, log);
  try {
    const b = await openBackends(cfg, log, settings.dataDir);
    host.add('backends', b.close);
    await host.startHttp(cfg[role].metricsPort, settings.metricsPort);
    const c = await host.serve(hosted(role, cfg, b, log), { store: b.store, port: cfg[role].port, portSetting: settings.port });
    host.started();
    return { role, grpcPort: c.port, serverID: () => c.serverID, host };
  } catch (e) {
    return host.fail(e);
  }
}
