import { KITE_VERSION } from '@kite/session';
import type { Handlers, ProxyCore } from './core';
import { OK } from './status';

/** Connection, health, version, databases and the public AllocTimestamp. */
export function adminHandlers(core: ProxyCore, serverID: () => number): Handlers {
  return {
    async Connect() {
      return { status: OK, server_info: { build_tags: KITE_VERSION, build_time: '', git_commit: '', go_version: 'node', deploy_mode: 'standalone', reserved: {} }, identifier: (Date.now() % 1_000_000) + 1 };
    },
    async GetVersion() {
      return { status: OK, version: KITE_VERSION };
    },
    async CheckHealth() {
      const healthy = core.coordinator.known;
      return { status: OK, isHealthy: healthy, reasons: healthy ? [] : ['no query coordinator'], quota_states: [] };
    },
    async GetComponentStates() {
      return { state: { nodeID: String(serverID()), role: 'Proxy', state_code: 'Healthy', extra_info: [] }, subcomponent_states: [], status: OK };
    },
    /** Straight from the oracle, not from the write cache: a client may use it as a fence after other writes. */
    async AllocTimestamp(_r, ctx) {
      return { status: OK, timestamp: (await core.coordinator.timestamps(1, ctx.deadline)).toString() };
    },
    async ListDatabases() {
      return { status: OK, db_names: ['default'], created_timestamp: ['0'], db_ids: ['1'] };
    },
    /** Any database name other than "default" was refused before this runs (checkDatabase). */
    async DescribeDatabase() {
      return { status: OK, db_name: 'default', dbID: '1', created_timestamp: '0', properties: [] };
    },
  };
}
