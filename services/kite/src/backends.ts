import * as fs from 'node:fs';
import * as path from 'node:path';
import type { KiteConfig, Logger } from '@kite/common';
import { EmbeddedMetaStore, EtcdMetaStore, type MetaStore } from '@kite/metastore';
import { LocalObjectStore, S3ObjectStore, type ObjectStore } from '@kite/objectstore';
import { EmbeddedWal, type Wal } from '@kite/wal';
import { timed } from '@kite/observe';
import { openKafkaWal } from './kafka';
import { MeteredWal } from './metered-wal';

export interface Backends {
  store: MetaStore;
  wal: Wal;
  objects: ObjectStore;
  close(): Promise<void>;
}

/** Opens the meta store, WAL and object store the configuration names (embedded ones live under the data dir). */
export async function openBackends(cfg: KiteConfig, log: Logger): Promise<Backends> {
  const dir = path.resolve(cfg.common.dataDir);
  fs.mkdirSync(dir, { recursive: true });
  const store: MetaStore =
    cfg.meta.type === 'etcd'
      ? new EtcdMetaStore({ endpoints: cfg.meta.etcdEndpoints, logger: log.child({ part: 'etcd' }) })
      : await EmbeddedMetaStore.open(path.join(dir, 'meta'));
  const wal: Wal = new MeteredWal(cfg.wal.type === 'kafka' ? await openKafkaWal(cfg, log) : await EmbeddedWal.open(path.join(dir, 'wal')));
  const objects: ObjectStore =
    cfg.storage.type === 's3'
      ? await S3ObjectStore.open(cfg.storage.s3)
      : await LocalObjectStore.open(cfg.storage.path || path.join(dir, 'objects'));
  return {
    store: timed(store, 'kite_metastore_request', 'meta store requests'),
    wal,
    objects: timed(objects, 'kite_objectstore_request', 'object store requests'),
    async close() {
      await objects.close();
      await wal.close();
      await store.close();
    },
  };
}
