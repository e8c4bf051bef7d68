import * as fs from 'node:fs';
import * as path from 'node:path';
import { isKiteError, KiteError, lockHolder, type KiteConfig, type Logger } from '@kite/common';
import { EmbeddedMetaStore, EtcdMetaStore, type EtcdMetaStoreOptions, type MetaStore } from '@kite/metastore';
import { openObjectStore, type ObjectStore } from '@kite/objectstore';
import { EmbeddedWal, type Wal } from '@kite/wal';
import { timed } from '@kite/observe';
import { openKafkaWal } from './kafka';
import { readPem } from './pem';
import { MeteredWal } from './metered-wal';
import { dataDirLocked, StartedParts, type Setting } from '@kite/host';

export interface Backends {
  store: MetaStore;
  wal: Wal;
  objects: ObjectStore;
  close(): Promise<void>;
}

/** Opens the meta store, WAL and object store the configuration names (embedded ones live under the data dir). */
export async function openBackends(cfg: KiteConfig, log: Logger, dataDirSetting: Setting): Promise<Backends> {
  const dir = path.resolve(cfg.common.dataDir);
  fs.mkdirSync(dir, { recursive: true });
  const opened = new StartedParts(log, cfg.common.startUnwindTimeoutMs);
  /** An embedded store under the data dir; its lock held by another process is reported for the data dir. */
  const embedded = async <T>(sub: string, open: (where: string) => Promise<T>): Promise<T> => {
    const where = path.join(dir, sub);
    try {
      return await open(where);
    } catch (e) {
      if (!isKiteError(e) || e.kind !== 'DirectoryLocked') throw e;
      throw dataDirLocked(e, dir, await lockHolder(where), dataDirSetting);
    }
  };
  try {
    const store: MetaStore =
      cfg.meta.type === 'etcd'
        ? new EtcdMetaStore(etcdOptions(cfg, log))
        : await embedded('meta', (where) => EmbeddedMetaStore.open(where));
    opened.add('meta store', () => store.close());
    const wal: Wal = new MeteredWal(cfg.wal.type === 'kafka' ? await openKafkaWal(cfg, log) : await embedded('wal', (where) => EmbeddedWal.open(where)), cfg.wal.lagIntervalMs);
    opened.add('WAL', () => wal.close());
    const objects = await openObjectStore({ ...cfg.storage, path: cfg.storage.path || path.join(dir, 'objects') });
    opened.add('object store', () => objects.close());
    return {
      store: timed(store, 'kite_metastore_request', 'meta store requests'),
      wal,
      objects: timed(objects, 'kite_objectstore_request', 'object store requests'),
      close: () => opened.stopAll(),
    };
  } catch (e) {
    return opened.fail(e);
  }
}

/** The etcd client's options from the meta section: endpoints, user and password, TLS files. */
export function etcdOptions(cfg: KiteConfig, log: Logger): EtcdMetaStoreOptions {
  const m = cfg.meta;
  if (Boolean(m.etcdUserName) !== Boolean(m.etcdPassword)) {
    throw new KiteError('ParameterInvalid', 'meta.etcdUserName and meta.etcdPassword (KITE_META_ETCD_PASSWORD) must be set together, or both left empty');
  }
  const tls = {
    ...(m.etcdCaPemPath ? { ca: readPem(m.etcdCaPemPath, 'meta.etcdCaPemPath') } : {}),
    ...(m.etcdCertPemPath ? { cert: readPem(m.etcdCertPemPath, 'meta.etcdCertPemPath') } : {}),
    ...(m.etcdKeyPemPath ? { key: readPem(m.etcdKeyPemPath, 'meta.etcdKeyPemPath') } : {}),
  };
  return {
    endpoints: m.etcdEndpoints,
    ...(m.etcdUserName
      ? { auth: { username: m.etcdUserName, password: m.etcdPassword, settings: 'meta.etcdUserName and meta.etcdPassword (KITE_META_ETCD_PASSWORD)' } }
      : {}),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
    logger: log.child({ part: 'etcd' }),
  };
}
