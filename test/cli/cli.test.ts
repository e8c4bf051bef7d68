/**
 * `bin/kite` as a process: --version, --log-level, `config print` with its sources and masking, the warning about
 * unknown KITE_* variables, and the progress lines of `cluster up`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, makeTempDir, removeTempDir, repoRoot } from '../harness/util';
import { runKite } from '../cluster/launcher';

jest.setTimeout(300_000);

/** The parent's environment without KITE_* variables, so only what a test sets is seen. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KITE_')) env[k] = v;
  return { ...env, ...extra };
}

const CMD_MS = 60_000;
let dir = '';
beforeAll(() => {
  dir = makeTempDir('kite-cli-');
});
afterAll(() => removeTempDir(dir));

test('--version prints the package version and the server version clients see', async () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'services', 'kite', 'package.json'), 'utf8')) as { version: string };
  const res = await runKite(['--version'], cleanEnv(), CMD_MS);
  expect(res.code).toBe(0);
  expect(res.stdout.trim()).toBe(`kite ${pkg.version} (Milvus server version 2.6.0-kite.${pkg.version})`);
  expect(res.stderr).toBe('');
});

test('config print: every key with its value and source, secrets masked, unknown variables warned about', async () => {
  const file = path.join(dir, 'kite.yaml');
  fs.writeFileSync(file, 'proxy:\n  port: 19777\nmeta:\n  etcdPassword: file-password\n');
  const res = await runKite(
    ['config', 'print', '--config', file],
    cleanEnv({ KITE_DATANODE_SEGMENT_MAX_ROWS: '4321', KITE_INTERNAL_SECRET: 'env-secret', KITE_PROXY_PROT: '1' }),
    CMD_MS,
  );
  expect(res.code).toBe(0);
  const rows = new Map(
    res.stdout.trim().split('\n').slice(1).map((l) => {
      const [key, value, ...source] = l.split(/\s+/);
      return [key!, { value: value!, source: source.join(' ') }];
    }),
  );
  expect(rows.get('proxy.port')).toEqual({ value: '19777', source: 'file' });
  expect(rows.get('datanode.segmentMaxRows')).toEqual({ value: '4321', source: 'env KITE_DATANODE_SEGMENT_MAX_ROWS' });
  expect(rows.get('common.sessionTtlSeconds')).toEqual({ value: '5', source: 'default' });
  expect(rows.get('meta.etcdPassword')).toEqual({ value: '****', source: 'file' });
  expect(rows.get('internal.secret')).toEqual({ value: '****', source: 'env KITE_INTERNAL_SECRET' });
  expect(res.stdout).not.toMatch(/file-password|env-secret/);
  expect(res.stderr).toBe('kite: warning: KITE_PROXY_PROT is not a Kite configuration variable and is ignored; did you mean KITE_PROXY_PORT?\n');
});

test('config print fails on a bad value with the key, and --log-level / KITE_LOG_LEVEL are checked', async () => {
  const bad = await runKite(['config', 'print'], cleanEnv({ KITE_PROXY_PORT: 'abc' }), CMD_MS);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(/^kite: invalid configuration: proxy\.port: /);
  const flag = await runKite(['config', 'print', '--log-level', 'loud'], cleanEnv(), CMD_MS);
  expect(flag.code).not.toBe(0);
  expect(flag.stderr).toContain("option '--log-level <level>' argument 'loud' is invalid");
  const env = await runKite(['config', 'print'], cleanEnv({ KITE_LOG_LEVEL: 'loud' }), CMD_MS);
  expect(env.code).toBe(2);
  expect(env.stderr).toContain('KITE_LOG_LEVEL=loud is not a log level');
  // The flag wins over a bad variable, before or after the command.
  expect((await runKite(['--log-level', 'warn', 'config', 'print'], cleanEnv({ KITE_LOG_LEVEL: 'loud' }), CMD_MS)).code).toBe(0);
  expect((await runKite(['config', 'print', '--log-level', 'debug'], cleanEnv(), CMD_MS)).code).toBe(0);
});

test('cluster up reports each process on stderr as it starts and once it is ready; --log-level reaches the components', async () => {
  const data = path.join(dir, 'cluster');
  const up = await runKite(['--log-level', 'debug', 'cluster', 'up', '--data-dir', data, '--port', String(await freePort()), '--querynodes', '2', '--datanodes', '1'], cleanEnv(), 240_000);
  try {
    expect(up.code).toBe(0);
    const lines = up.stderr.trim().split('\n');
    for (const name of ['etcd', 'Kafka', 'querycoord 1/1', 'datanode 1/1', 'querynode 1/2', 'querynode 2/2', 'proxy 1/1']) {
      const started = lines.indexOf(`starting ${name}`);
      const ready = lines.findIndex((l) => new RegExp(`^${name} ready in \\d+\\.\\d s$`).test(l));
      expect({ name, started: started >= 0, readyAfterStart: ready > started }).toEqual({ name, started: true, readyAfterStart: true });
    }
    expect(lines.indexOf('starting proxy 1/1')).toBeGreaterThan(lines.findIndex((l) => l.startsWith('querycoord 1/1 ready')));
    expect(JSON.parse(up.stdout)).toMatchObject({ components: expect.any(Array) });
    const log = fs.readFileSync(path.join(data, 'logs', 'proxy-0.log'), 'utf8');
    expect(log).toMatch(/"level":20/);
  } finally {
    await runKite(['cluster', 'down', '--data-dir', data], cleanEnv(), 120_000);
  }
});
