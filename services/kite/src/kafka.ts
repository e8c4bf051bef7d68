import type { KiteConfig, Logger } from '@kite/common';
import { KafkaWal, type Wal } from '@kite/wal';

/** The Kafka WAL for cluster mode (connects lazily on first use). */
export async function openKafkaWal(cfg: KiteConfig, log: Logger): Promise<Wal> {
  return new KafkaWal({ brokers: cfg.wal.kafkaBrokers, clientId: 'kite', logger: log.child({ part: 'kafka' }) });
}
