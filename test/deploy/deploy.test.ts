/**
 * deploy/docker-compose.yml and deploy/Dockerfile, checked without a Docker engine (none runs here): the compose
 * file parses, every KITE_* variable is one Kite reads, each role's environment loads with Kite's own config loader
 * and points at services the file defines; the Dockerfile's stages, ports and entrypoint match the repository, and
 * its runtime stage installs the shared libraries the built faiss addon links against.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { loadConfig, type KiteConfig } from '@kite/common';
import { unknownKiteEnv } from '../helm/config-keys';

const REPO = path.resolve(__dirname, '..', '..');
const COMPOSE = path.join(REPO, 'deploy', 'docker-compose.yml');
const DOCKERFILE = path.join(REPO, 'deploy', 'Dockerfile');
const ROLES = ['proxy', 'querycoord', 'querynode', 'datanode'];

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[] | string;
  environment?: Record<string, string | number | boolean>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}
interface Compose {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/**
 * Compose's `${VAR:-default}` / `${VAR}` / `${VAR:?message}` interpolation, with the given variables (none set: the
 * defaults; a required one unset fails with its message, as `docker compose up` does).
 */
function interpolate(value: string, vars: Record<string, string> = {}): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::?([-?])([^}]*))?\}/g, (_m, name: string, op?: string, arg?: string) => {
    const v = vars[name];
    if (op === '?' && (v === undefined || v === '')) throw new Error(`${name}: ${arg ?? ''}`);
    return v ?? (op === '-' ? (arg ?? '') : '');
  });
}

/** What a user exports before `docker compose up`. */
const REQUIRED_VARS = { KITE_INTERNAL_SECRET: 'c'.repeat(64) };

const compose = (): Compose => {
  const doc = YAML.parseDocument(fs.readFileSync(COMPOSE, 'utf8'), { merge: true });
  expect(doc.errors).toEqual([]);
  return doc.toJS() as Compose;
};

const kiteServices = (c: Compose): [string, ComposeService][] =>
  Object.entries(c.services).filter(([, s]) => s.image === 'kite:local');

function roleConfig(s: ComposeService, vars: Record<string, string> = {}): KiteConfig {
  const env = Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), { ...REQUIRED_VARS, ...vars })]));
  return loadConfig({ env });
}

describe('deploy/docker-compose.yml', () => {
  it('runs every role, a coordinator standby and two query nodes from the Dockerfile', () => {
    const c = compose();
    const roles = kiteServices(c).map(([name, s]) => [name, Array.isArray(s.command) ? s.command[0] : s.command]);
    expect(roles).toEqual([
      ['querycoord', 'querycoord'],
      ['querycoord-standby', 'querycoord'],
      ['datanode', 'datanode'],
      ['querynode-1', 'querynode'],
      ['querynode-2', 'querynode'],
      ['proxy', 'proxy'],
    ]);
    expect(new Set(roles.map(([, role]) => role))).toEqual(new Set(ROLES));
    for (const [, s] of kiteServices(c)) {
      expect(s.build).toEqual({ context: '..', dockerfile: 'deploy/Dockerfile' });
      expect(fs.existsSync(path.join(path.dirname(COMPOSE), s.build?.context ?? '', s.build?.dockerfile ?? ''))).toBe(true);
      for (const dep of Object.keys(s.depends_on ?? {})) expect(c.services[dep]).toBeDefined();
      for (const v of s.volumes ?? []) expect(c.volumes).toHaveProperty(v.split(':')[0] ?? '');
    }
    expect(c.services.kafka?.image).toMatch(/^apache\/kafka:3\.9\.\d+$/);
  });

  it('sets only KITE_* variables that Kite reads, and each role loads its config from them', () => {
    const c = compose();
    for (const [name, s] of kiteServices(c)) {
      expect([name, unknownKiteEnv(Object.keys(s.environment ?? {}))]).toEqual([name, []]);
      const cfg = roleConfig(s);
      expect(cfg.meta.type).toBe('etcd');
      expect(cfg.wal.type).toBe('kafka');
      expect(cfg.common.listenHost).toBe('0.0.0.0');
      // Each container advertises its own compose DNS name.
      expect(cfg.common.advertiseHost).toBe(name);
      // Internal ports on the container's own compose address, never 0.0.0.0; calls need the exported secret.
      expect(cfg.internal.listenHost).toBe(name);
      expect(cfg.internal.secret).toBe(REQUIRED_VARS.KITE_INTERNAL_SECRET);
      expect(() => interpolate(String(s.environment?.KITE_INTERNAL_SECRET))).toThrow(/KITE_INTERNAL_SECRET: set KITE_INTERNAL_SECRET/);
      expect(cfg.common.metricsListenHost).toBe('0.0.0.0');
      expect(cfg.storage).toMatchObject({ type: 's3', s3: { endpoint: 'http://minio:9000', bucket: 'kite', forcePathStyle: true } });
      // KITE_STORAGE_TYPE=local switches every role to a volume they all mount.
      expect(roleConfig(s, { KITE_STORAGE_TYPE: 'local' }).storage).toMatchObject({ type: 'local', path: '/var/lib/kite-objects' });
      expect((s.volumes ?? []).some((v) => v.endsWith(':/var/lib/kite-objects'))).toBe(true);
    }
  });

  it('points the roles at the etcd, Kafka and MinIO services the file defines', () => {
    const c = compose();
    const [, proxy] = kiteServices(c).find(([n]) => n === 'proxy') ?? [];
    if (!proxy) throw new Error('no proxy service');
    const cfg = roleConfig(proxy);
    const host = (u: string) => new URL(u.includes('://') ? u : `tcp://${u}`);
    expect(cfg.meta.etcdEndpoints.map((e) => host(e).host)).toEqual(['etcd:2379']);
    expect(c.services.etcd?.healthcheck?.test).toBeDefined();
    const kafkaEnv = c.services.kafka?.environment ?? {};
    expect(cfg.wal.kafkaBrokers).toEqual([String(kafkaEnv.KAFKA_ADVERTISED_LISTENERS).replace(/^PLAINTEXT:\/\//, '')]);
    expect(host(cfg.storage.s3.endpoint).hostname).toBe('minio');
    const minioEnv = c.services.minio?.environment ?? {};
    expect([cfg.storage.s3.accessKeyId, cfg.storage.s3.secretAccessKey]).toEqual([minioEnv.MINIO_ROOT_USER, minioEnv.MINIO_ROOT_PASSWORD]);
    expect(c.services['minio-init']?.command?.[0]).toContain(`mb --ignore-existing kite/${cfg.storage.s3.bucket}`);
    // The proxy publishes Kite's gRPC and metrics ports on loopback.
    expect(proxy.ports).toEqual([`127.0.0.1:${cfg.proxy.port}:${cfg.proxy.port}`, `127.0.0.1:${cfg.proxy.metricsPort}:${cfg.proxy.metricsPort}`]);
    // Kafka's KRaft cluster id is a base64 UUID (16 bytes), or the broker refuses to format its storage.
    expect(Buffer.from(String(kafkaEnv.CLUSTER_ID), 'base64url')).toHaveLength(16);
  });
});

describe('deploy/Dockerfile', () => {
  const text = (): string => fs.readFileSync(DOCKERFILE, 'utf8');
  const stage = (name: string): string => {
    const m = new RegExp(`^FROM [^\\n]+ AS ${name}\\n([\\s\\S]*?)(?=^FROM |$(?![\\s\\S]))`, 'm').exec(text());
    if (!m?.[1]) throw new Error(`no stage ${name}`);
    return m[1];
  };
  /** Debian packages an apt-get install in the stage names. */
  const aptPackages = (s: string): string[] => {
    const joined = s.replace(/\\\n/g, ' ');
    const m = /apt-get install ([^&\n]*)/.exec(joined);
    return (m?.[1] ?? '').split(/\s+/).filter((w) => w && !w.startsWith('-'));
  };

  it('builds on Debian bookworm with Node 20 and runs bin/kite from a slim stage', () => {
    expect(text()).toMatch(/^ARG NODE_MAJOR=20$/m);
    expect(text()).toMatch(/^FROM node:\$\{NODE_MAJOR\}-bookworm AS build$/m);
    expect(text()).toMatch(/^FROM node:\$\{NODE_MAJOR\}-bookworm-slim AS runtime$/m);
    expect(aptPackages(stage('build'))).toEqual(expect.arrayContaining(['libfaiss-dev', 'libopenblas-dev', 'g++', 'make', 'python3']));
    expect(stage('build')).toContain('node-gyp build');
    expect(stage('build')).toContain('pnpm run build');
    expect(stage('runtime')).toMatch(/^ENTRYPOINT \["node", "\/opt\/kite\/bin\/kite"\]$/m);
    expect(fs.existsSync(path.join(REPO, 'bin', 'kite'))).toBe(true);
    const pnpm = /PNPM_VERSION := (\S+)/.exec(fs.readFileSync(path.join(REPO, 'Makefile'), 'utf8'))?.[1];
    expect(stage('build')).toContain(`ARG PNPM_VERSION=${pnpm}`);
  });

  it('exposes the default ports and sets only config keys Kite knows', () => {
    const exposed = (/^EXPOSE (.*)$/m.exec(stage('runtime'))?.[1] ?? '').split(/\s+/).map(Number).sort();
    const d = loadConfig({ env: {} });
    const ports = [d.proxy, d.querycoord, d.querynode, d.datanode].flatMap((c) => [c.port, c.metricsPort]).sort();
    expect(exposed).toEqual(ports);
    const env = [...stage('runtime').matchAll(/\b(KITE_[A-Z0-9_]+)=/g)].map((m) => m[1] ?? '');
    expect(env.length).toBeGreaterThan(0);
    expect(unknownKiteEnv(env)).toEqual([]);
  });

  it('installs in the runtime stage the Debian packages the faiss addon links against', () => {
    const addon = path.join(REPO, 'packages', 'faiss', 'build', 'Release', 'kite_faiss.node');
    // `make test` builds the addon first; without it this check has nothing to read.
    expect(fs.existsSync(addon)).toBe(true);
    const libs = execFileSync('ldd', [addon], { encoding: 'utf8' })
      .split('\n')
      .map((l) => /=>\s+(\/\S+)/.exec(l)?.[1])
      .filter((p): p is string => !!p);
    expect(libs.length).toBeGreaterThan(3);
    // The runtime stage's packages and, recursively, what they depend on (read from this machine's dpkg database,
    // where the addon was built), plus what Node itself needs in the base image.
    const dpkg = (args: string[]): string => {
      try {
        return execFileSync('dpkg-query', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      } catch {
        return ''; // not installed here: an alternative that this machine does not use
      }
    };
    const closure = new Set<string>();
    const queue = [...aptPackages(stage('runtime')), 'libc6', 'libstdc++6', 'libgcc-s1'];
    while (queue.length) {
      const pkg = queue.shift() as string;
      if (closure.has(pkg)) continue;
      const deps = dpkg(['-W', '-f', '${Pre-Depends}, ${Depends}', pkg]);
      if (!deps) continue;
      closure.add(pkg);
      for (const alt of deps.split(/[,|]/)) {
        const name = alt.trim().split(/[\s:(]/)[0];
        if (name) queue.push(name);
      }
    }
    const files = new Set([...closure].flatMap((p) => dpkg(['-L', p]).split('\n')));
    const toggle = (p: string) => (p.startsWith('/usr/') ? p.slice(4) : `/usr${p}`);
    // Debian's merged /usr: a package ships a library as /lib/... or /usr/lib/...
    const missing = libs.filter((lib) => ![lib, fs.realpathSync(lib)].some((p) => files.has(p) || files.has(toggle(p))));
    expect(missing).toEqual([]);
    expect([...closure]).toEqual(expect.arrayContaining(['libopenblas0', 'libgomp1', 'libgfortran5']));
  });
});
