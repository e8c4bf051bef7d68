import { KiteError, type KiteConfig, type Logger } from '@kite/common';
import type { MetaStore } from '@kite/metastore';
import { channelsOf, codecs, hiddenUpTo, keys, type CollectionMeta, type CompactionPlanRecord, type CompactionRecord, type ReplicaRecord } from '@kite/segment';
import { counter } from '@kite/observe';
import { within } from './deadline';
import { healthyNodes, type DistributionManager } from './distribution';
import { handoffPending } from './handoff';
import { planAuto, planManual, type PlannedGroup } from './compaction-plan';
import { segmentsOn, type TargetManager } from './target';

const plansCreated = counter('kite_querycoord_compaction_plans_total', 'compaction plans created, by trigger (manual, auto) and type (mix, clustering)', ['trigger', 'type']);

/** Clustering key types clustering compaction can range-partition. */
const CLUSTERABLE = new Set(['Int8', 'Int16', 'Int32', 'Int64', 'Float', 'Double', 'VarChar']);

/**
 * Attempts at running a plan (each bounded by compaction.planTimeoutMs) before it is marked failed. A data node
 * that dies fails an attempt at once (and may take one more before a pull shows it gone), so there are several.
 */
const MAX_ATTEMPTS = 10;

export interface CompactionDeps {
  store: MetaStore;
  root: string;
  metaTimeoutMs: number;
  allocIds(count: number): Promise<number>;
  collections(): CollectionMeta[];
  targets: TargetManager;
  dist: DistributionManager;
  replicas(collectionID: number): readonly ReplicaRecord[];
  log: Logger;
}

/**
 * Compaction planning and dispatch, in the coordinator: ManualCompaction and the automatic trigger write plans
 * ('executing') to the meta store; each plan is sent to a healthy data node (compaction.planTimeoutMs per attempt)
 * until the node completes it or marks it failed. A plan whose data node died is sent again on the next check
 * (the data node's swap is one guarded transaction, so a plan runs to effect once). Plans live in memory while
 * executing, read back at start.
 */
export class CompactionManager {
  private readonly executing = new Map<string, CompactionPlanRecord>();
  private readonly inFlight = new Set<string>();
  private readonly attempts = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private stopped = false;

  constructor(
    private readonly cfg: KiteConfig['compaction'],
    private readonly d: CompactionDeps,
  ) {}

  async start(): Promise<void> {
    const res = await this.meta(this.d.store.getPrefix(keys.compactionPlans(this.d.root)), 'list compaction plans');
    for (const kv of res.kvs) {
      const p = codecs.compactionPlan.decode(kv.value, kv.key);
      if (p.state === 'executing') this.executing.set(kv.key, p);
    }
    this.timer = setInterval(() => void this.check(), this.cfg.checkIntervalMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  private meta<T>(p: Promise<T>, what: string): Promise<T> {
    return within(p, this.d.metaTimeoutMs, `meta store ${what}`);
  }

  /** Segments a new plan must not take: sources of executing plans, and results some replica has not switched to. */
  private busy(c: CollectionMeta): Set<number> {
    const out = new Set<number>();
    for (const p of this.executing.values()) if (p.collectionID === c.collectionID) for (const id of p.sources) out.add(id);
    for (const id of handoffPending(this.d.targets.next(c), this.d.replicas(c.collectionID), this.d.dist.snapshot())) out.add(id);
    return out;
  }

  private opts(): Parameters<typeof planAuto>[3] {
    return { deleteRatio: this.cfg.deleteRatio, smallSegmentRows: this.cfg.smallSegmentRows, minSmallSegments: this.cfg.minSmallSegments, maxSegmentRows: this.cfg.maxSegmentRows };
  }

  /** Writes a compaction and its plans; returns the compaction's id and plan count. */
  private async create(c: CollectionMeta, trigger: 'manual' | 'auto', clustering: boolean, groups: { channel: string; g: PlannedGroup }[]): Promise<{ compactionID: number; plans: number }> {
    const first = await this.d.allocIds(1 + groups.length);
    const compactionID = first;
    const now = Date.now();
    const plans: CompactionPlanRecord[] = groups.map(({ channel, g }, i) => ({
      compactionID, planID: first + 1 + i, collectionID: c.collectionID, channel, type: g.type, sources: g.sources,
      state: 'executing', results: [], reason: g.why, createdAt: now, updatedAt: now,
    }));
    const rec: CompactionRecord = { compactionID, collectionID: c.collectionID, clustering, trigger, planIDs: plans.map((p) => p.planID), createdAt: now };
    const res = await this.meta(this.d.store.txn([], [
      { type: 'put', key: keys.compaction(this.d.root, compactionID), value: codecs.compaction.encode(rec) },
      ...plans.map((p) => ({ type: 'put' as const, key: keys.compactionPlan(this.d.root, compactionID, p.planID), value: codecs.compactionPlan.encode(p) })),
    ]), 'write compaction plans');
    if (!res.succeeded) throw new KiteError('MetaFailed', 'writing the compaction plans failed; retry', { retriable: true });
    for (const p of plans) {
      this.executing.set(keys.compactionPlan(this.d.root, compactionID, p.planID), p);
      plansCreated.inc({ trigger, type: p.type });
    }
    if (plans.length) this.d.log.info({ collection: c.name, compaction: compactionID, trigger, plans: plans.map((p) => ({ plan: p.planID, channel: p.channel, type: p.type, sources: p.sources, why: p.reason })) }, 'compaction planned');
    return { compactionID, plans: plans.length };
  }

  /** ManualCompaction: plans every channel of the collection now (see planManual) and dispatches at once. */
  async manual(c: CollectionMeta, clustering: boolean): Promise<{ compactionID: number; plans: number }> {
    if (clustering) {
      const key = c.fields.find((f) => f.isClusteringKey);
      if (!key) {
        throw new KiteError('ParameterInvalid', `collection ${c.name} has no clustering key field: clustering compaction (majorCompaction, pymilvus is_clustering=True) needs a scalar field created with is_clustering_key=True`);
      }
      if (!CLUSTERABLE.has(key.dataType)) {
        throw new KiteError('ParameterInvalid', `clustering key field ${key.name} is ${key.dataType}: clustering compaction range-partitions an Int8, Int16, Int32, Int64, Float, Double or VarChar key`);
      }
    }
    const t = this.d.targets.next(c);
    const busy = this.busy(c);
    const cut = hiddenUpTo(c);
    const groups = channelsOf(c).flatMap((channel) => planManual(segmentsOn(t, channel), busy, clustering, cut, this.opts()).map((g) => ({ channel, g })));
    const out = await this.create(c, 'manual', clustering, groups);
    void this.check();
    return out;
  }

  /** One check: automatic planning (when enabled), then every executing plan not running is sent to a data node. */
  async check(): Promise<void> {
    if (this.checking || this.stopped) return;
    this.checking = true;
    try {
      if (this.cfg.enabled) {
        for (const c of this.d.collections()) {
          const t = this.d.targets.next(c);
          const busy = this.busy(c);
          const cut = hiddenUpTo(c);
          const groups = channelsOf(c).flatMap((channel) => planAuto(segmentsOn(t, channel), busy, cut, this.opts()).map((g) => ({ channel, g })));
          if (groups.length) await this.create(c, 'auto', false, groups);
        }
      }
      this.dispatch();
    } catch (e) {
      this.d.log.warn({ err: String(e) }, 'compaction check failed; retrying on the next one');
    } finally {
      this.checking = false;
    }
  }

  private dispatch(): void {
    const dns = healthyNodes(this.d.dist.snapshot(), 'datanode');
    if (dns.length === 0) return;
    for (const [key, p] of this.executing) {
      if (this.inFlight.has(key)) continue;
      // Each attempt goes to the next healthy data node, so a retry does not wait on the one that just failed.
      const dn = this.d.dist.dataNode(dns[(p.planID + (this.attempts.get(key) ?? 0)) % dns.length]!.id);
      if (!dn) continue;
      this.inFlight.add(key);
      const ms = this.cfg.planTimeoutMs;
      within(dn.Compact({ compaction_id: p.compactionID, plan_id: p.planID }, { timeoutMs: ms }), ms, `compaction plan ${p.planID}`)
        .then(() => this.settle(key))
        .catch(async (e: unknown) => {
          const n = (this.attempts.get(key) ?? 0) + 1;
          this.attempts.set(key, n);
          this.d.log.warn({ plan: p.planID, attempt: n, err: String(e) }, 'compaction plan attempt failed');
          if (n >= MAX_ATTEMPTS) await this.giveUp(key, p, String(e));
          else await this.settle(key);
        })
        .catch((e: unknown) => this.d.log.warn({ plan: p.planID, err: String(e) }, 'compaction plan state unknown; checked again'))
        .finally(() => this.inFlight.delete(key));
    }
  }

  /** Reads a plan's record back: one no longer executing is done here. */
  private async settle(key: string): Promise<void> {
    const kv = await this.meta(this.d.store.get(key), `get ${key}`);
    const p = kv ? codecs.compactionPlan.decode(kv.value, kv.key) : undefined;
    if (!p || p.state !== 'executing') {
      this.executing.delete(key);
      this.attempts.delete(key);
    }
  }

  private async giveUp(key: string, p: CompactionPlanRecord, reason: string): Promise<void> {
    const kv = await this.meta(this.d.store.get(key), `get ${key}`);
    if (!kv) return;
    const cur = codecs.compactionPlan.decode(kv.value, kv.key);
    if (cur.state === 'executing') {
      const failed: CompactionPlanRecord = { ...cur, state: 'failed', reason: `gave up after ${MAX_ATTEMPTS} attempts: ${reason}`, updatedAt: Date.now() };
      await this.meta(this.d.store.txn([{ key, target: 'modRevision', op: '==', value: kv.modRevision }], [{ type: 'put', key, value: codecs.compactionPlan.encode(failed) }]), `put ${key}`);
    }
    this.executing.delete(key);
    this.attempts.delete(key);
    this.d.log.warn({ plan: p.planID }, 'compaction plan failed for good');
  }
}
