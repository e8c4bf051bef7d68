export * from './types';
export { EmbeddedMetaStore } from './embedded';
export type { EmbeddedMetaStoreOptions, EmbeddedMetaStoreStats } from './embedded';
export {
  DEFAULT_HISTORY_BYTES,
  DEFAULT_HISTORY_REVISIONS,
  DEFAULT_MIN_LEASE_TTL_SECONDS,
  DEFAULT_SNAPSHOT_LOG_BYTES,
} from './embedded';
export { metaStoreContract } from './contract';
export type { MetaStoreContractOptions, MetaStoreFactory, MetaStoreHarness } from './contract';
export * from './etcd';
