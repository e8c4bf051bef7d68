import { KiteError } from '@kite/common';
import { codecs, keys, type CollectionMeta, type CompactionPlanRecord } from '@kite/segment';
import type { Handlers, ProxyCore } from './core';
import type { RequestContext } from './request';
import { OK } from './status';

/**
 * ManualCompaction, GetCompactionState and GetCompactionStateWithPlans. The coordinator plans a compaction and data
 * nodes run its plans (docs/architecture.md, "Compaction"); the state is read from the plans' records in the meta
 * store. As in Milvus, a compaction id nobody knows reads as completed with no plans.
 */
export function compactionHandlers(core: ProxyCore): Handlers {
  const root = core.cfg.common.rootPath;

  /** The collection a ManualCompaction names: by id (the Node SDK sends only that) or by name (pymilvus). */
  async function target(r: { collectionID?: unknown; collection_name?: string }, ctx: RequestContext): Promise<CollectionMeta> {
    const id = Number(r.collectionID ?? 0);
    if (Number.isSafeInteger(id) && id > 0) {
      const c = core.meta.byID(id);
      if (!c) throw new KiteError('CollectionNotFound', `collection not found[collection=${id}]`);
      return c;
    }
    if (!r.collection_name) throw new KiteError('ParameterInvalid', 'ManualCompaction needs collection_name or collectionID: name the collection to compact');
    return core.collection(r.collection_name, ctx);
  }

  async function plansOf(idText: unknown): Promise<CompactionPlanRecord[]> {
    const id = Number(idText ?? 0);
    if (!Number.isSafeInteger(id) || id <= 0) throw new KiteError('ParameterInvalid', `compactionID ${String(idText)} is not a compaction id: pass the id ManualCompaction returned`);
    const res = await core.store.getPrefix(keys.compactionPlans(root, id));
    return res.kvs.map((kv) => codecs.compactionPlan.decode(kv.value, kv.key));
  }

  const stateOf = (plans: readonly CompactionPlanRecord[]): 'Executing' | 'Completed' => (plans.some((p) => p.state === 'executing') ? 'Executing' : 'Completed');

  return {
    async ManualCompaction(r, ctx) {
      const c = await target(r, ctx);
      if (r.l0Compaction) throw new KiteError('ParameterInvalid', 'l0Compaction is not supported: Kite keeps deletes with the segments they were consumed with (no L0 segments); compact without is_l0');
      const res = await core.coordinator.api().ManualCompaction({ collection_id: c.collectionID, clustering: r.majorCompaction === true }, core.coordinator.within(ctx.deadline));
      return { status: OK, compactionID: String(res.compaction_id), compactionPlanCount: res.plan_count };
    },

    async GetCompactionState(r) {
      const plans = await plansOf(r.compactionID);
      const count = (s: CompactionPlanRecord['state']): string => String(plans.filter((p) => p.state === s).length);
      return { status: OK, state: stateOf(plans), executingPlanNo: count('executing'), timeoutPlanNo: '0', completedPlanNo: count('completed'), failedPlanNo: count('failed') };
    },

    async GetCompactionStateWithPlans(r) {
      const plans = await plansOf(r.compactionID);
      const mergeInfos = plans.filter((p) => p.state === 'completed').flatMap((p) => p.results.map((target) => ({ sources: p.sources.map(String), target: String(target) })));
      return { status: OK, state: stateOf(plans), mergeInfos };
    },
  };
}
