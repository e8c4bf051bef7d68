/** How the meta/wal/storage security settings become client options, and the errors bad combinations get. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig, silentLogger } from '@kite/common';
import { etcdOptions } from './backends';
import { kafkaSecurity } from './kafka';

const config = (env: Record<string, string>) => loadConfig({ env });

describe('etcd settings', () => {
  it('pass no auth or TLS by default', () => {
    const o = etcdOptions(config({}), silentLogger);
    expect(o.auth).toBeUndefined();
    expect(o.tls).toBeUndefined();
  });

  it('take the user and password from KITE_META_ETCD_USER_NAME / KITE_META_ETCD_PASSWORD', () => {
    const o = etcdOptions(config({ KITE_META_ETCD_USER_NAME: 'kite', KITE_META_ETCD_PASSWORD: 'pw' }), silentLogger);
    expect(o.auth).toMatchObject({ username: 'kite', password: 'pw' });
    expect(o.auth?.settings).toContain('meta.etcdPassword');
  });

  it('refuse a user without a password, naming both keys', () => {
    expect(() => etcdOptions(config({ KITE_META_ETCD_USER_NAME: 'kite' }), silentLogger)).toThrow(/meta.etcdUserName and meta.etcdPassword/);
  });

  it('read the TLS files, and name the setting of one that cannot be read', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kite-pem-'));
    const ca = path.join(dir, 'ca.pem');
    fs.writeFileSync(ca, 'CA');
    try {
      const o = etcdOptions(config({ KITE_META_ETCD_CA_PEM_PATH: ca }), silentLogger);
      expect(o.tls?.ca?.toString()).toBe('CA');
      expect(() => etcdOptions(config({ KITE_META_ETCD_CERT_PEM_PATH: path.join(dir, 'missing.pem') }), silentLogger)).toThrow(
        /meta.etcdCertPemPath ".*missing.pem" cannot be read/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Kafka settings', () => {
  it('are plaintext without SASL by default', () => {
    expect(kafkaSecurity(config({}))).toEqual({});
  });

  it('map SASL_SSL with SCRAM to kafkajs sasl and ssl', () => {
    const s = kafkaSecurity(
      config({
        KITE_WAL_KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
        KITE_WAL_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
        KITE_WAL_KAFKA_SASL_USERNAME: 'kite',
        KITE_WAL_KAFKA_SASL_PASSWORD: 'pw',
      }),
    );
    expect(s).toMatchObject({ ssl: true, sasl: { mechanism: 'scram-sha-512', username: 'kite', password: 'pw' } });
    expect(s.saslSettings).toContain('KITE_WAL_KAFKA_SASL_PASSWORD');
  });

  it('refuse SASL without credentials, credentials without SASL, and TLS files without TLS', () => {
    expect(() => kafkaSecurity(config({ KITE_WAL_KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT' }))).toThrow(/wal.kafkaSaslUsername and wal.kafkaSaslPassword/);
    expect(() => kafkaSecurity(config({ KITE_WAL_KAFKA_SASL_USERNAME: 'kite', KITE_WAL_KAFKA_SASL_PASSWORD: 'pw' }))).toThrow(/SASL_PLAINTEXT or SASL_SSL/);
    expect(() => kafkaSecurity(config({ KITE_WAL_KAFKA_CA_PEM_PATH: '/x.pem' }))).toThrow(/SSL or SASL_SSL/);
  });

  it('refuse an unknown protocol when the config is loaded', () => {
    expect(() => config({ KITE_WAL_KAFKA_SECURITY_PROTOCOL: 'TLS' })).toThrow(/wal.kafkaSecurityProtocol/);
  });
});
