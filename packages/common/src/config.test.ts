import { loadConfig } from './config';

describe('tls and internal keys', () => {
  it('defaults keep the public port plaintext, internal ports on loopback and no cluster secret', () => {
    const cfg = loadConfig({ env: {} });
    expect(cfg.tls).toEqual({ mode: 0, serverPemPath: '', serverKeyPath: '', caPemPath: '' });
    expect(cfg.internal).toEqual({ listenHost: '127.0.0.1', secret: '', inProcessCalls: true });
    expect(cfg.common.metricsListenHost).toBe('127.0.0.1');
  });

  it('reads them from KITE_* variables', () => {
    const cfg = loadConfig({
      env: { KITE_TLS_MODE: '2', KITE_TLS_SERVER_PEM_PATH: '/s.pem', KITE_TLS_SERVER_KEY_PATH: '/s.key', KITE_TLS_CA_PEM_PATH: '/ca.pem', KITE_INTERNAL_SECRET: 'x', KITE_INTERNAL_LISTEN_HOST: '10.0.0.5', KITE_INTERNAL_IN_PROCESS_CALLS: 'false', KITE_COMMON_METRICS_LISTEN_HOST: '0.0.0.0' },
    });
    expect(cfg.tls).toEqual({ mode: 2, serverPemPath: '/s.pem', serverKeyPath: '/s.key', caPemPath: '/ca.pem' });
    expect(cfg.internal).toEqual({ listenHost: '10.0.0.5', secret: 'x', inProcessCalls: false });
    expect(cfg.common.metricsListenHost).toBe('0.0.0.0');
  });

  it('refuses a TLS mode without its files, naming the key and its variable', () => {
    expect(() => loadConfig({ env: { KITE_TLS_MODE: '1' } })).toThrow(/tls.serverPemPath: tls.mode 1 needs the server certificate: set tls.serverPemPath \(env KITE_TLS_SERVER_PEM_PATH\)/);
    expect(() => loadConfig({ env: { KITE_TLS_MODE: '2', KITE_TLS_SERVER_PEM_PATH: '/s', KITE_TLS_SERVER_KEY_PATH: '/k' } })).toThrow(/KITE_TLS_CA_PEM_PATH/);
    expect(() => loadConfig({ env: { KITE_TLS_MODE: '3' } })).toThrow(/tls.mode/);
  });
});

describe('data lifecycle keys', () => {
  it('defaults: compaction sources kept an hour, looked at every minute; etcd history compacted every 5 min to 10000 revisions', () => {
    const cfg = loadConfig({ env: {} });
    expect(cfg.compaction).toMatchObject({ gcGraceSeconds: 3600, gcIntervalSeconds: 60 });
    expect(cfg.meta).toMatchObject({ etcdCompactionIntervalSeconds: 300, etcdCompactionRetainRevisions: 10000 });
  });

  it('reads them from KITE_* variables and refuses values out of range, naming the key', () => {
    const cfg = loadConfig({
      env: { KITE_COMPACTION_GC_GRACE_SECONDS: '0', KITE_COMPACTION_GC_INTERVAL_SECONDS: '5', KITE_META_ETCD_COMPACTION_INTERVAL_SECONDS: '0', KITE_META_ETCD_COMPACTION_RETAIN_REVISIONS: '500' },
    });
    expect(cfg.compaction).toMatchObject({ gcGraceSeconds: 0, gcIntervalSeconds: 5 });
    expect(cfg.meta).toMatchObject({ etcdCompactionIntervalSeconds: 0, etcdCompactionRetainRevisions: 500 });
    expect(() => loadConfig({ env: { KITE_COMPACTION_GC_INTERVAL_SECONDS: '0' } })).toThrow(/compaction.gcIntervalSeconds/);
    expect(() => loadConfig({ env: { KITE_META_ETCD_COMPACTION_RETAIN_REVISIONS: '0' } })).toThrow(/meta.etcdCompactionRetainRevisions/);
  });
});
