import { KiteError, type KiteConfig, type Logger } from '@kite/common';
import { KafkaWal, type KafkaSasl, type KafkaSsl, type KafkaWalOptions, type Wal } from '@kite/wal';
import { readPem } from './pem';

const SASL_SETTINGS = 'wal.kafkaSaslUsername and wal.kafkaSaslPassword (KITE_WAL_KAFKA_SASL_PASSWORD)';

/** The Kafka client's security options from the wal section: SASL and TLS per wal.kafkaSecurityProtocol. */
export function kafkaSecurity(cfg: KiteConfig): Pick<KafkaWalOptions, 'ssl' | 'sasl' | 'saslSettings'> {
  const w = cfg.wal;
  const useSasl = w.kafkaSecurityProtocol === 'SASL_PLAINTEXT' || w.kafkaSecurityProtocol === 'SASL_SSL';
  const useTls = w.kafkaSecurityProtocol === 'SSL' || w.kafkaSecurityProtocol === 'SASL_SSL';
  if (useSasl && (!w.kafkaSaslUsername || !w.kafkaSaslPassword)) {
    throw new KiteError('ParameterInvalid', `wal.kafkaSecurityProtocol ${w.kafkaSecurityProtocol} needs ${SASL_SETTINGS}: set both`);
  }
  if (!useSasl && (w.kafkaSaslUsername || w.kafkaSaslPassword)) {
    throw new KiteError('ParameterInvalid', `wal.kafkaSaslUsername/kafkaSaslPassword are set but wal.kafkaSecurityProtocol is ${w.kafkaSecurityProtocol}: use SASL_PLAINTEXT or SASL_SSL`);
  }
  const files = [w.kafkaCaPemPath, w.kafkaCertPemPath, w.kafkaKeyPemPath].some(Boolean);
  if (!useTls && files) {
    throw new KiteError('ParameterInvalid', `wal.kafka*PemPath are set but wal.kafkaSecurityProtocol is ${w.kafkaSecurityProtocol}: use SSL or SASL_SSL`);
  }
  if (Boolean(w.kafkaCertPemPath) !== Boolean(w.kafkaKeyPemPath)) {
    throw new KiteError('ParameterInvalid', 'wal.kafkaCertPemPath and wal.kafkaKeyPemPath must be set together');
  }
  const ssl: KafkaSsl | undefined = !useTls
    ? undefined
    : files
      ? {
          ...(w.kafkaCaPemPath ? { ca: readPem(w.kafkaCaPemPath, 'wal.kafkaCaPemPath') } : {}),
          ...(w.kafkaCertPemPath ? { cert: readPem(w.kafkaCertPemPath, 'wal.kafkaCertPemPath') } : {}),
          ...(w.kafkaKeyPemPath ? { key: readPem(w.kafkaKeyPemPath, 'wal.kafkaKeyPemPath') } : {}),
        }
      : true;
  const sasl: KafkaSasl | undefined = useSasl
    ? {
        mechanism: w.kafkaSaslMechanism.toLowerCase() as KafkaSasl['mechanism'],
        username: w.kafkaSaslUsername,
        password: w.kafkaSaslPassword,
      }
    : undefined;
  return { ...(ssl !== undefined ? { ssl } : {}), ...(sasl ? { sasl, saslSettings: SASL_SETTINGS } : {}) };
}

/**
 * How long start-up waits for the brokers to answer before going on without them (the WAL connects again on first
 * use): long enough for a broker that is up to accept the login, short enough not to hold a start while Kafka is away.
 */
const CONNECT_CHECK_MS = 5_000;

/**
 * The Kafka WAL for cluster mode. It tries to connect at once so that refused credentials stop the start with an
 * error naming the settings; brokers that are unreachable or slow are left to the lazy connect of the first use.
 */
export async function openKafkaWal(cfg: KiteConfig, log: Logger): Promise<Wal> {
  const wal = new KafkaWal({ brokers: cfg.wal.kafkaBrokers, clientId: 'kite', ...kafkaSecurity(cfg), logger: log.child({ part: 'kafka' }) });
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    wal.connect().then(
      () => undefined,
      (err: unknown) => err,
    ),
    new Promise<'slow'>((resolve) => (timer = setTimeout(() => resolve('slow'), CONNECT_CHECK_MS))),
  ]).finally(() => clearTimeout(timer));
  if (outcome instanceof KiteError && !outcome.retriable) {
    await wal.close();
    throw outcome;
  }
  if (outcome !== undefined) {
    const why = outcome === 'slow' ? `no answer within ${CONNECT_CHECK_MS} ms` : (outcome as Error).message;
    log.warn({ brokers: cfg.wal.kafkaBrokers, err: why }, 'Kafka not reachable at start; the WAL connects on first use');
  }
  return wal;
}
