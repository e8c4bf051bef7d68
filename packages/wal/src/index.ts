export * from './types';
export { EmbeddedWal } from './embedded';
export type { EmbeddedWalOptions, EmbeddedWalStats } from './embedded';
export {
  DEFAULT_MAX_BATCH,
  DEFAULT_MAX_READ_BYTES,
  DEFAULT_RETRY_DELAY_MS,
  DEFAULT_SEGMENT_BYTES,
  MAX_RECORD_BYTES,
} from './embedded';
export { walContract } from './contract';
export type { WalContractOptions, WalFactory, WalHarness } from './contract';
export * from './kafka';
