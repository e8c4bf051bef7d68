import { KiteError } from '@kite/common';
import type { IndexDescription } from '@kite/proto';
import type { Handlers, ProxyCore } from './core';
import type { RequestContext } from './request';
import { OK, kvs } from './status';

/** Which indexes a describe names: by index name and/or field name ('' = any). */
interface IndexSelector {
  collection_name: string;
  field_name: string;
  index_name: string;
}

/** Index DDL and progress: carried out by the coordinator (which has data nodes build the indexes). */
export function indexHandlers(core: ProxyCore): Handlers {
  const { coordinator } = core;
  const qc = () => coordinator.api();
  const within = (ctx: RequestContext) => coordinator.within(ctx.deadline);

  async function describe(r: IndexSelector, ctx: RequestContext): Promise<IndexDescription[]> {
    const c = await core.collection(r.collection_name, ctx);
    const list = c.indexes.filter((i) => (!r.index_name || i.indexName === r.index_name) && (!r.field_name || i.fieldName === r.field_name));
    if (list.length === 0) throw new KiteError('IndexNotFound', `index not found[collection=${c.name}]`);
    return Promise.all(list.map(async (i): Promise<IndexDescription> => {
      const p = await qc().GetIndexProgress({ collection_name: c.name, field_name: i.fieldName, index_name: i.indexName, db_name: ctx.db }, within(ctx));
      // As Milvus 2.4+ answers: index_type and metric_type, then each build parameter the user set as its own key.
      const built = i.userParams ?? (i.requestedIndexType === 'AUTOINDEX' ? {} : i.params);
      const params = [
        { key: 'index_type', value: i.requestedIndexType },
        // A scalar index has no metric: Milvus describes it without the key.
        ...(i.metricType ? [{ key: 'metric_type', value: i.metricType }] : []),
        ...Object.entries(built).map(([key, value]) => ({ key, value })),
      ];
      return {
        index_name: i.indexName, indexID: String(i.indexID), params, field_name: i.fieldName,
        indexed_rows: String(p.indexed_rows), total_rows: String(p.total_rows), state: p.pending_segments > 0 ? 'InProgress' : 'Finished',
        index_state_fail_reason: '', pending_index_rows: String(p.total_rows - p.indexed_rows),
      };
    }));
  }

  return {
    async CreateIndex(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      const params = kvs(r.extra_params);
      await qc().CreateIndex({ collection_name: c.name, field_name: r.field_name, index_name: r.index_name ?? '', params, db_name: ctx.db }, within(ctx));
      await core.synced(ctx);
      return OK;
    },

    async DescribeIndex(r, ctx) {
      return { status: OK, index_descriptions: await describe(r, ctx) };
    },

    async GetIndexState(r, ctx) {
      const busy = (await describe(r, ctx)).some((x) => x.state !== 'Finished');
      return { status: OK, state: busy ? 'InProgress' : 'Finished', fail_reason: '' };
    },

    async GetIndexBuildProgress(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      const p = await qc().GetIndexProgress({ collection_name: c.name, field_name: r.field_name ?? '', index_name: r.index_name ?? '', db_name: ctx.db }, within(ctx));
      return { status: OK, indexed_rows: String(p.indexed_rows), total_rows: String(p.total_rows) };
    },

    async DropIndex(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      await qc().DropIndex({ collection_name: c.name, field_name: r.field_name ?? '', index_name: r.index_name ?? '', db_name: ctx.db }, within(ctx));
      await core.synced(ctx);
      return OK;
    },
  };
}
