/**
 * The umbrella chart (helm/kite-stack): the kite chart plus Bitnami etcd, Kafka and MinIO as conditional
 * dependencies. Those charts cannot be fetched here (`helm dependency update` needs their OCI registry), so the test
 * assembles the umbrella in a temporary directory with the real kite chart and small stand-ins named etcd, kafka
 * and minio that create what Kite relies on from the real ones: the Services <release>-etcd:2379,
 * <release>-kafka:9092, <release>-minio:9000 and the Secret <release>-minio (root-user, root-password). Then it lints
 * and renders the umbrella and checks that Kite's config and Secret references land on those objects, and that
 * each dependency's `condition` switches it off.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import YAML from 'yaml';
import { CHART, STACK_CHART, helm, template, type ConfigMap, type Deployment, type Rendered, type Secret, type Service } from './helm';

jest.setTimeout(60_000);

const RELEASE = 'demo';
let stack: string;

function stub(dir: string, chart: string, port: number, withSecret: boolean, values = ''): void {
  fs.mkdirSync(path.join(dir, 'templates'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'Chart.yaml'), YAML.stringify({ apiVersion: 'v2', name: chart, version: '0.0.0-stub', description: `test stand-in for bitnami/${chart}` }));
  const svc = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `{{ .Release.Name }}-${chart}`, labels: { stub: chart } },
    spec: { ports: [{ name: 'client', port }], selector: { stub: chart } },
  };
  let text = YAML.stringify(svc);
  // The values the umbrella passes, as the stand-in received them.
  if (values) text += `---\n${YAML.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `{{ .Release.Name }}-${chart}-values`, labels: { stub: chart } } })}data:\n  values: ${values}\n`;
  if (withSecret) {
    text += `---\n${YAML.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `{{ .Release.Name }}-${chart}`, labels: { stub: chart } },
      stringData: { 'root-user': '{{ .Values.auth.rootUser }}', 'root-password': 'generated' },
    })}`;
  }
  fs.writeFileSync(path.join(dir, 'templates', 'objects.yaml'), text);
}

beforeAll(() => {
  stack = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kite-stack-')), 'kite-stack');
  fs.cpSync(STACK_CHART, stack, { recursive: true });
  fs.cpSync(CHART, path.join(stack, 'charts', 'kite'), { recursive: true });
  stub(path.join(stack, 'charts', 'etcd'), 'etcd', 2379, false, '{{ toJson .Values | quote }}');
  stub(path.join(stack, 'charts', 'kafka'), 'kafka', 9092, false);
  stub(path.join(stack, 'charts', 'minio'), 'minio', 9000, true);
});

afterAll(() => {
  fs.rmSync(path.dirname(stack), { recursive: true, force: true });
});

function kiteConfig(r: Rendered): Record<string, Record<string, unknown>> {
  const text = r.one<ConfigMap>('ConfigMap', `${RELEASE}-kite-config`).data['kite.yaml'] ?? '';
  return YAML.parse(text) as Record<string, Record<string, unknown>>;
}

/** host:port of a URL or a host:port string. */
function hostPort(s: string): [string, number] {
  const u = new URL(s.includes('://') ? s : `tcp://${s}`);
  return [u.hostname, Number(u.port)];
}

function serviceAt(r: Rendered, endpoint: string): Service | undefined {
  const [host, port] = hostPort(endpoint);
  return r.of<Service>('Service').find((s) => s.metadata.name === host && s.spec.ports.some((p) => p.port === port));
}

describe('helm/kite-stack', () => {
  it('declares etcd, Kafka and MinIO as conditional dependencies and the kite chart from ../kite', () => {
    const chart = YAML.parse(fs.readFileSync(path.join(STACK_CHART, 'Chart.yaml'), 'utf8')) as { dependencies: { name: string; repository: string; condition?: string; version: string }[] };
    const deps = Object.fromEntries(chart.dependencies.map((d) => [d.name, d]));
    expect(deps.kite).toMatchObject({ repository: 'file://../kite', version: '0.1.0' });
    for (const d of ['etcd', 'kafka', 'minio']) expect(deps[d]?.condition).toBe(`${d}.enabled`);
    expect(deps.kafka?.version).toBe('31.x.x');
  });

  it('passes helm lint --strict once its dependencies are in charts/', async () => {
    expect(await helm(['lint', stack, '--strict'])).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it('points Kite at the Services and Secret its dependencies create', async () => {
    const r = await template(stack, { release: RELEASE });
    const cfg = kiteConfig(r);
    const etcd = (cfg.meta?.etcdEndpoints as string[])[0] ?? '';
    const kafka = (cfg.wal?.kafkaBrokers as string[])[0] ?? '';
    const s3 = (cfg.storage?.s3 as { endpoint: string }).endpoint;
    expect(serviceAt(r, etcd)?.metadata.labels?.stub).toBe('etcd');
    expect(serviceAt(r, kafka)?.metadata.labels?.stub).toBe('kafka');
    expect(serviceAt(r, s3)?.metadata.labels?.stub).toBe('minio');
    const proxy = r.one<Deployment>('Deployment', `${RELEASE}-kite-proxy`).spec.template.spec.containers[0];
    const secrets = new Map(r.of<Secret>('Secret').map((s) => [s.metadata.name, s]));
    for (const e of proxy?.env ?? []) {
      const ref = e.valueFrom?.secretKeyRef;
      if (!ref) continue;
      expect(Object.keys({ ...secrets.get(ref.name)?.stringData, ...secrets.get(ref.name)?.data })).toContain(ref.key);
    }
    expect(secrets.get(`${RELEASE}-minio`)?.stringData?.['root-user']).toBe('kite');
  });

  it('runs etcd with revision auto-compaction and a backend quota (the backstop of Kite\'s own history compaction)', async () => {
    const r = await template(stack, { release: RELEASE });
    const values = JSON.parse(r.one<ConfigMap>('ConfigMap', `${RELEASE}-etcd-values`).data.values ?? '{}') as { autoCompactionMode?: string; autoCompactionRetention?: string; extraEnvVars?: { name: string; value: string }[] };
    expect(values.autoCompactionMode).toBe('revision');
    expect(Number(values.autoCompactionRetention)).toBeGreaterThanOrEqual(1000);
    const quota = Number(values.extraEnvVars?.find((e) => e.name === 'ETCD_QUOTA_BACKEND_BYTES')?.value);
    // Above etcd's 2 GiB default, at most its recommended 8 GiB.
    expect(quota).toBeGreaterThan(2 * 1024 ** 3);
    expect(quota).toBeLessThanOrEqual(8 * 1024 ** 3);
  });

  it('drops a dependency whose condition is off; Kite then uses the external service given', async () => {
    const r = await template(stack, { release: RELEASE, set: ['etcd.enabled=false', 'kite.externalEtcd.endpoints={http://etcd.infra:2379}', 'kafka.enabled=false', 'kite.externalKafka.brokers={kafka.infra:9092}'] });
    expect(r.objects.filter((o) => ['etcd', 'kafka'].includes(o.metadata.labels?.stub ?? ''))).toEqual([]);
    expect(r.objects.filter((o) => o.metadata.labels?.stub === 'minio').length).toBe(2);
    const cfg = kiteConfig(r);
    expect(cfg.meta?.etcdEndpoints).toEqual(['http://etcd.infra:2379']);
    expect(cfg.wal?.kafkaBrokers).toEqual(['kafka.infra:9092']);
  });
});
