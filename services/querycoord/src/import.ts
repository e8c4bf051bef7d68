import type { KiteConfig, Logger } from '@kite/common';
import type { MetaStore } from '@kite/metastore';
import { codecs, importDone, keys, type ImportTaskRecord } from '@kite/segment';
import { counter } from '@kite/observe';
import { within } from './deadline';
import { healthyNodes, type DistributionManager } from './distribution';

const dispatched = counter('kite_querycoord_import_dispatches_total', 'bulk import task runs sent to data nodes, by outcome (answered, failed)', ['outcome']);

export interface ImportDeps {
  store: MetaStore;
  root: string;
  metaTimeoutMs: number;
  dist: DistributionManager;
  log: Logger;
}

/**
 * Bulk import dispatch, in the coordinator. Proxies record tasks 'Pending' in the meta store (Import); every
 * bulkImport.checkIntervalMs the coordinator reads the tasks not done and sends each one not running to a healthy
 * data node (bulkImport.taskTimeoutMs per run). A task whose data node died, or that a previous coordinator had
 * sent (this one just took over), is sent again: the run starts over from its files, and the data node's commit is
 * one transaction guarded by the task's revision, so a task takes effect once. After bulkImport.maxAttempts runs
 * that ended without completing or failing it (crashes, timeouts), the task is marked Failed.
 */
export class ImportManager {
  private readonly inFlight = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private stopped = false;

  constructor(
    private readonly cfg: KiteConfig['bulkImport'],
    private readonly d: ImportDeps,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), this.cfg.checkIntervalMs);
    void this.check();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  private meta<T>(p: Promise<T>, what: string): Promise<T> {
    return within(p, this.d.metaTimeoutMs, `meta store ${what}`);
  }

  /** One pass: every task not done and not running here is sent to a data node (or failed, out of attempts). */
  async check(): Promise<void> {
    if (this.checking || this.stopped) return;
    this.checking = true;
    try {
      const res = await this.meta(this.d.store.getPrefix(keys.importTasks(this.d.root)), 'list import tasks');
      const open = res.kvs.map((kv) => ({ kv, t: codecs.importTask.decode(kv.value, kv.key) })).filter(({ t }) => !importDone(t) && !this.inFlight.has(t.taskID));
      if (open.length === 0) return;
      const dns = healthyNodes(this.d.dist.snapshot(), 'datanode');
      for (const { kv, t } of open) {
        if (t.attempts >= this.cfg.maxAttempts) {
          await this.fail(kv.key, kv.modRevision, t, `gave up after ${t.attempts} runs that did not finish (data node lost or ${this.cfg.taskTimeoutMs} ms bulkImport.taskTimeoutMs exceeded)`);
          continue;
        }
        if (dns.length === 0) continue;
        const dn = this.d.dist.dataNode(dns[(t.taskID + t.attempts) % dns.length]!.id);
        if (!dn) continue;
        this.send(t, dn);
      }
    } catch (e) {
      this.d.log.warn({ err: String(e) }, 'import check failed; retrying on the next one');
    } finally {
      this.checking = false;
    }
  }

  private send(t: ImportTaskRecord, dn: NonNullable<ReturnType<DistributionManager['dataNode']>>): void {
    this.inFlight.add(t.taskID);
    const ms = this.cfg.taskTimeoutMs;
    within(dn.Import({ task_id: t.taskID }, { timeoutMs: ms }), ms, `import task ${t.taskID}`)
      .then(() => dispatched.inc({ outcome: 'answered' }))
      .catch((e: unknown) => {
        dispatched.inc({ outcome: 'failed' });
        this.d.log.warn({ task: t.taskID, attempt: t.attempts, err: String(e) }, 'import task run failed; sent again on a later check');
      })
      // The next check (bulkImport.checkIntervalMs) sends it again if it is still open: no hot loop on a node
      // that fails at once.
      .finally(() => this.inFlight.delete(t.taskID));
  }

  private async fail(key: string, rev: number, t: ImportTaskRecord, reason: string): Promise<void> {
    const failed: ImportTaskRecord = { ...t, state: 'Failed', reason, segmentIDs: [], updatedAt: Date.now() };
    await this.meta(this.d.store.txn([{ key, target: 'modRevision', op: '==', value: rev }], [{ type: 'put', key, value: codecs.importTask.encode(failed) }]), `put ${key}`);
    this.d.log.warn({ task: t.taskID, reason }, 'import task failed for good');
  }
}
