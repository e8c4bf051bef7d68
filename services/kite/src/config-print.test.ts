import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { editDistance, unknownKiteEnvWarnings } from '@kite/common';
import { explainConfig, formatConfig } from './config-print';

let dir = '';
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kite-config-print-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function writeConfig(text: string): string {
  const file = path.join(dir, `kite-${Math.random().toString(36).slice(2)}.yaml`);
  fs.writeFileSync(file, text);
  return file;
}

const byKey = (entries: { key: string; value: unknown; source: string }[]): Map<string, { value: unknown; source: string }> =>
  new Map(entries.map((e) => [e.key, { value: e.value, source: e.source }]));

test('each key reports the source that set it: default < file < env < flag', () => {
  const file = writeConfig('proxy:\n  port: 19600\n  metricsPort: 9200\ndatanode:\n  segmentMaxRows: 1000\ncommon:\n  rootPath: fromfile\n');
  const { entries } = explainConfig({
    file,
    env: { KITE_PROXY_METRICS_PORT: '9300', KITE_COMMON_ROOT_PATH: 'fromenv' },
    overrides: { common: { rootPath: 'fromflag', dataDir: undefined } },
  });
  const m = byKey(entries);
  expect(m.get('proxy.port')).toEqual({ value: 19600, source: 'file' });
  expect(m.get('datanode.segmentMaxRows')).toEqual({ value: 1000, source: 'file' });
  expect(m.get('proxy.metricsPort')).toEqual({ value: 9300, source: 'env KITE_PROXY_METRICS_PORT' });
  expect(m.get('common.rootPath')).toEqual({ value: 'fromflag', source: 'flag' });
  // A flag left unset (undefined) does not count as a source.
  expect(m.get('common.dataDir')).toEqual({ value: './.kite/data', source: 'default' });
  expect(m.get('common.sessionTtlSeconds')).toEqual({ value: 5, source: 'default' });
  // Every key of the schema is listed, nested ones included.
  expect(m.has('storage.s3.bucket')).toBe(true);
  expect(m.get('meta.etcdEndpoints')).toEqual({ value: ['http://127.0.0.1:2379'], source: 'default' });
});

test('the table masks secrets that are set, shows unset ones as empty, and keeps file paths', () => {
  const { entries } = explainConfig({
    env: {
      KITE_META_ETCD_PASSWORD: 'etcd-pw',
      KITE_INTERNAL_SECRET: 'cluster-secret-value',
      KITE_STORAGE_S3_SECRET_ACCESS_KEY: 's3-secret',
      KITE_STORAGE_S3_ACCESS_KEY_ID: 's3-key-id',
      KITE_TLS_SERVER_KEY_PATH: '/etc/kite/tls/server.key',
    },
  });
  const table = formatConfig(entries);
  for (const secret of ['etcd-pw', 'cluster-secret-value', 's3-secret', 's3-key-id']) expect(table).not.toContain(secret);
  const line = (key: string): string => table.split('\n').find((l) => l.startsWith(`${key} `))!;
  expect(line('meta.etcdPassword')).toMatch(/^meta\.etcdPassword +\*\*\*\* +env KITE_META_ETCD_PASSWORD$/);
  expect(line('internal.secret')).toMatch(/\*\*\*\* +env KITE_INTERNAL_SECRET$/);
  expect(line('storage.s3.secretAccessKey')).toMatch(/\*\*\*\* +env KITE_STORAGE_S3_SECRET_ACCESS_KEY$/);
  expect(line('wal.kafkaSaslPassword')).toMatch(/"" +default$/);
  expect(line('tls.serverKeyPath')).toContain('/etc/kite/tls/server.key');
  // Aligned: the source column starts at the same offset on every row.
  const rows = table.trimEnd().split('\n');
  expect(rows[0]).toMatch(/^KEY +VALUE +SOURCE$/);
  const col = rows[0]!.indexOf('SOURCE');
  for (const r of rows.slice(1)) expect(r.slice(col - 2, col)).toBe('  ');
});

test('a bad value fails as it would at start-up, naming the key', () => {
  expect(() => explainConfig({ env: { KITE_PROXY_PORT: '70000' } })).toThrow(/proxy\.port/);
});

test('unknown KITE_* variables are warned about, with the nearest known name', () => {
  const warnings = unknownKiteEnvWarnings({
    KITE_PROXY_PROT: '1',
    KITE_DATANODE_SEGMENT_MAX_ROW: '5',
    KITE_TOTALLY_UNRELATED_THING: 'x',
    KITE_PROXY_PORT: '19530',
    KITE_LOG_LEVEL: 'debug',
    KITE_FAISS_SEARCH_THREADS: '2',
    KITE_KEEP_TEST_DATA: '1',
    OTHER: 'y',
  });
  expect(warnings).toEqual([
    'KITE_DATANODE_SEGMENT_MAX_ROW is not a Kite configuration variable and is ignored; did you mean KITE_DATANODE_SEGMENT_MAX_ROWS?',
    'KITE_PROXY_PROT is not a Kite configuration variable and is ignored; did you mean KITE_PROXY_PORT?',
    'KITE_TOTALLY_UNRELATED_THING is not a Kite configuration variable and is ignored',
  ]);
  expect(unknownKiteEnvWarnings({ KITE_LOG_LEVEL: 'info', KITE_STORAGE_S3_BUCKET: 'b' })).toEqual([]);
});

test('edit distance', () => {
  expect(editDistance('', 'abc')).toBe(3);
  expect(editDistance('kitten', 'sitting')).toBe(3);
  expect(editDistance('PROT', 'PORT')).toBe(2);
  expect(editDistance('same', 'same')).toBe(0);
});
