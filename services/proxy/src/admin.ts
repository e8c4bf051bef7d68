import { KITE_VERSION } from '@kite/session';
import type { Handlers, ProxyCore } from './core';
import { OK, kvs } from './status';

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
    async CreateDatabase(r, ctx) {
      const props = kvs(r.properties);
      await core.coordinator.api().CreateDatabase({ db_name: r.db_name ?? '', properties: props, delete_keys: [] }, core.coordinator.within(ctx.deadline));
      await core.synced(ctx);
      return OK;
    },
    async DropDatabase(r, ctx) {
      await core.coordinator.api().DropDatabase({ db_name: r.db_name ?? '', properties: {}, delete_keys: [] }, core.coordinator.within(ctx.deadline));
      await core.synced(ctx);
      return OK;
    },
    async AlterDatabase(r, ctx) {
      const props = kvs(r.properties);
      await core.coordinator.api().AlterDatabase({ db_name: r.db_name || ctx.db, properties: props, delete_keys: r.delete_keys ?? [] }, core.coordinator.within(ctx.deadline));
      await core.synced(ctx);
      return OK;
    },
    async ListDatabases() {
      const list = core.meta.allDatabases();
      return { status: OK, db_names: list.map((d) => d.name), created_timestamp: list.map((d) => d.createdTs), db_ids: list.map((d) => String(d.id)) };
    },
    /** The request's db_name, else the call's database (the `dbname` metadata), else "default". */
    async DescribeDatabase(_r, ctx) {
      const d = await core.database(ctx);
      return { status: OK, db_name: d.name, dbID: String(d.id), created_timestamp: d.createdTs, properties: Object.entries(d.properties).map(([key, value]) => ({ key, value })) };
    },
  };
}
