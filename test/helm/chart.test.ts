/**
 * The Helm chart (helm/kite), checked with the real Helm CLI: `helm lint --strict` and `helm template` with each
 * values file in helm/kite/ci, then structural assertions on the rendered objects, and the rendered config file
 * loaded by Kite's own loader. No Kubernetes API server is involved (none runs here). Needs helm in .cache/bin
 * (scripts/install-helm.sh; `make setup` runs it): the suite fails, not skips, without it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import YAML from 'yaml';
import { loadConfig, type KiteConfig } from '@kite/common';
import { configEnvNames, unknownConfigKeys, unknownKiteEnv } from './config-keys';
import {
  CHART,
  HELM,
  HelmError,
  helm,
  pinnedHelmVersion,
  template,
  type ConfigMap,
  type Container,
  type Deployment,
  type Hpa,
  type PodDisruptionBudget,
  type Rendered,
  type Secret,
  type Service,
  type ServiceMonitor,
} from './helm';

jest.setTimeout(60_000);

// Not containing "kite", so object names are <release>-kite-<component> (the chart's fullname rule).
const RELEASE = 'demo';
const COMPONENTS = ['proxy', 'querycoord', 'querynode', 'datanode'] as const;
type Component = (typeof COMPONENTS)[number];
const CI = (name: string): string => path.join(CHART, 'ci', `${name}-values.yaml`);
const VALUES_FILES = ['default', 'external', 'scale'] as const;

let tmp: string;
const renders = new Map<string, Rendered>();

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kite-helm-'));
  // Render every values file once, in parallel; the tests below read these.
  await Promise.all(VALUES_FILES.map(async (v) => renders.set(v, await template(CHART, { release: RELEASE, values: [CI(v)] }))));
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function render(v: (typeof VALUES_FILES)[number]): Rendered {
  const r = renders.get(v);
  if (!r) throw new Error(`no render for ${v}`);
  return r;
}

const name = (c: Component): string => `${RELEASE}-kite-${c}`;
/** The Secret the chart makes for the cluster secret when internal.existingSecret is empty. */
const INTERNAL_SECRET = `${RELEASE}-kite-internal`;
const container = (d: Deployment): Container => {
  expect(d.spec.template.spec.containers).toHaveLength(1);
  return d.spec.template.spec.containers[0] as Container;
};
const envOf = (c: Container, n: string) => (c.env ?? []).filter((e) => e.name === n);

/** The rendered kite.yaml: parsed, checked for unknown keys, and loaded by Kite with the pod's KITE_* values. */
function kiteConfig(r: Rendered, podEnv: Record<string, string> = {}): { raw: Record<string, unknown>; cfg: KiteConfig } {
  const cm = r.one<ConfigMap>('ConfigMap', `${RELEASE}-kite-config`);
  const text = cm.data['kite.yaml'];
  if (text === undefined) throw new Error('the ConfigMap has no kite.yaml');
  const raw = YAML.parse(text) as Record<string, unknown>;
  expect(unknownConfigKeys(raw)).toEqual([]);
  const file = path.join(tmp, `kite-${Math.random().toString(36).slice(2)}.yaml`);
  fs.writeFileSync(file, text);
  return { raw, cfg: loadConfig({ file, env: podEnv }) };
}

describe('helm', () => {
  it('is the pinned version', async () => {
    expect(fs.existsSync(HELM)).toBe(true);
    const version = (await helm(['version', '--template', '{{.Version}}'])).trim();
    expect(version).toBe(pinnedHelmVersion());
  });
});

describe.each(VALUES_FILES)('helm/kite with ci/%s-values.yaml', (values) => {
  it('passes helm lint --strict', async () => {
    const out = await helm(['lint', CHART, '--strict', '--values', CI(values)]);
    expect(out).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it('labels every object with the chart, the release and a component', () => {
    const r = render(values);
    expect(r.objects.length).toBeGreaterThan(8);
    for (const o of r.objects) {
      const labels = o.metadata.labels ?? {};
      const object = `${o.kind}/${o.metadata.name}`;
      expect({ object, instance: labels['app.kubernetes.io/instance'], name: labels['app.kubernetes.io/name'] }).toEqual({ object, instance: RELEASE, name: 'kite' });
      expect({ object, component: labels.component }).toEqual({ object, component: expect.stringMatching(/^(proxy|querycoord|querynode|datanode|cluster)$/) });
    }
  });

  it('renders a config file that Kite loads, for a cluster in Kubernetes', () => {
    const { cfg } = kiteConfig(render(values), { KITE_COMMON_ADVERTISE_HOST: '10.1.2.3', KITE_INTERNAL_LISTEN_HOST: '10.1.2.3', KITE_INTERNAL_SECRET: 'x' });
    expect(cfg.common.listenHost).toBe('0.0.0.0');
    expect(cfg.common.metricsListenHost).toBe('0.0.0.0');
    expect(cfg.common.advertiseHost).toBe('10.1.2.3');
    expect(cfg.internal).toEqual({ listenHost: '10.1.2.3', secret: 'x', inProcessCalls: true });
    expect(cfg.tls.mode).toBe(0);
    expect(cfg.meta.type).toBe('etcd');
    expect(cfg.wal.type).toBe('kafka');
    expect(cfg.storage.type).toBe('s3');
  });

  it.each(COMPONENTS)('runs %s with probes on its metrics port, the config mount, the checksum and resources', (c) => {
    const r = render(values);
    const { cfg } = kiteConfig(r);
    const d = r.one<Deployment>('Deployment', name(c));
    const pod = d.spec.template;
    expect(d.metadata.labels?.component).toBe(c);
    expect(pod.metadata.labels.component).toBe(c);
    // The selector picks this component's pods only.
    expect(d.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'kite', 'app.kubernetes.io/instance': RELEASE, component: c });
    for (const [k, v] of Object.entries(d.spec.selector.matchLabels)) expect(pod.metadata.labels[k]).toBe(v);

    const ctr = container(d);
    expect(ctr.args).toEqual([c, '--config', '/etc/kite/kite.yaml']);
    const ports = Object.fromEntries((ctr.ports ?? []).map((p) => [p.name, p.containerPort]));
    expect(ports).toEqual({ grpc: cfg[c].port, metrics: cfg[c].metricsPort });
    expect(ctr.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    // A querycoord standby answers 503 on /ready until it takes the session (see values.yaml), so readiness probes
    // /healthz there; every other component is ready only once registered and serving.
    expect(ctr.readinessProbe?.httpGet).toEqual({ path: c === 'querycoord' ? '/healthz' : '/ready', port: 'metrics' });

    // The ConfigMap is mounted where the args point, and its checksum rolls the pods.
    const mount = (ctr.volumeMounts ?? []).find((m) => m.mountPath === '/etc/kite');
    const volume = (pod.spec.volumes ?? []).find((v) => v.name === mount?.name);
    expect(volume?.configMap?.name).toBe(`${RELEASE}-kite-config`);
    expect(pod.metadata.annotations?.['checksum/config']).toMatch(/^[0-9a-f]{64}$/);

    expect(ctr.resources?.requests?.cpu).toBeTruthy();
    expect(ctr.resources?.requests?.memory).toBeTruthy();
    expect(ctr.resources?.limits?.memory).toBeTruthy();

    // Each pod advertises its own IP; every KITE_* variable is one Kite reads.
    const adv = envOf(ctr, 'KITE_COMMON_ADVERTISE_HOST');
    expect(adv).toEqual([{ name: 'KITE_COMMON_ADVERTISE_HOST', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }]);
    expect(unknownKiteEnv((ctr.env ?? []).map((e) => e.name))).toEqual([]);
    // The internal port binds the pod IP, never 0.0.0.0; the cluster secret comes from the chart's Secret.
    expect(envOf(ctr, 'KITE_INTERNAL_LISTEN_HOST')).toEqual([{ name: 'KITE_INTERNAL_LISTEN_HOST', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }]);
    expect(envOf(ctr, 'KITE_INTERNAL_SECRET')).toEqual([{ name: 'KITE_INTERNAL_SECRET', valueFrom: { secretKeyRef: { name: INTERNAL_SECRET, key: 'internal-secret' } } }]);
    const secret = r.one<Secret>('Secret', INTERNAL_SECRET);
    expect(Buffer.from(secret.data?.['internal-secret'] ?? '', 'base64').toString()).toMatch(/^[A-Za-z0-9]{48}$/);
    expect(new Set((ctr.env ?? []).map((e) => e.name)).size).toBe((ctr.env ?? []).length);

    expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
  });

  it.each(COMPONENTS)('gives %s a Service on its grpc and metrics ports that selects its pods', (c) => {
    const r = render(values);
    const { cfg } = kiteConfig(r);
    const svc = r.one<Service>('Service', name(c));
    const d = r.one<Deployment>('Deployment', name(c));
    expect(svc.metadata.labels?.component).toBe(c);
    expect(svc.spec.selector).toEqual(d.spec.selector.matchLabels);
    expect(svc.spec.ports.map((p) => [p.name, p.port, p.targetPort])).toEqual([
      ['grpc', cfg[c].port, 'grpc'],
      ['metrics', cfg[c].metricsPort, 'metrics'],
    ]);
    if (c === 'proxy') expect(svc.spec.clusterIP).toBeUndefined();
    else expect(svc.spec.clusterIP).toBe('None');
  });
});

describe('ci/default-values.yaml (the chart defaults)', () => {
  it('points Kite at the services kite-stack dependencies create, with the MinIO secret', () => {
    const r = render('default');
    const { cfg } = kiteConfig(r);
    expect(cfg.meta.etcdEndpoints).toEqual([`http://${RELEASE}-etcd:2379`]);
    expect(cfg.wal.kafkaBrokers).toEqual([`${RELEASE}-kafka:9092`]);
    expect(cfg.storage.s3).toMatchObject({ endpoint: `http://${RELEASE}-minio:9000`, bucket: 'kite', forcePathStyle: true });
    // The only Secret the chart makes here is the cluster secret.
    expect(r.of<Secret>('Secret').map((x) => x.metadata.name)).toEqual([INTERNAL_SECRET]);
    for (const c of COMPONENTS) {
      const ctr = container(r.one<Deployment>('Deployment', name(c)));
      expect(envOf(ctr, 'KITE_STORAGE_S3_ACCESS_KEY_ID')[0]?.valueFrom?.secretKeyRef).toEqual({ name: `${RELEASE}-minio`, key: 'root-user' });
      expect(envOf(ctr, 'KITE_STORAGE_S3_SECRET_ACCESS_KEY')[0]?.valueFrom?.secretKeyRef).toEqual({ name: `${RELEASE}-minio`, key: 'root-password' });
    }
  });

  it('runs the coordinator with a standby, and no autoscalers or ServiceMonitor', () => {
    const r = render('default');
    const qc = r.one<Deployment>('Deployment', name('querycoord'));
    expect(qc.spec.replicas).toBe(2);
    // The standby prefers another node than the active coordinator.
    expect(JSON.stringify(qc.spec.template.spec.affinity?.podAntiAffinity)).toContain('"component":"querycoord"');
    expect(r.of('HorizontalPodAutoscaler')).toEqual([]);
    expect(r.of('ServiceMonitor')).toEqual([]);
    expect(r.of<Deployment>('Deployment').map((d) => d.metadata.name).sort()).toEqual(COMPONENTS.map(name).sort());
  });
});

describe('ci/external-values.yaml', () => {
  it('points the config at the external etcd, Kafka and S3, with the extra config keys', () => {
    const { cfg } = kiteConfig(render('external'));
    expect(cfg.meta.etcdEndpoints).toEqual(['http://etcd-0.etcd.infra.svc:2379', 'http://etcd-1.etcd.infra.svc:2379', 'http://etcd-2.etcd.infra.svc:2379']);
    expect(cfg.wal.kafkaBrokers).toEqual(['kafka-0.kafka.infra.svc:9092', 'kafka-1.kafka.infra.svc:9092']);
    expect(cfg.storage.s3).toMatchObject({ endpoint: 'https://s3.eu-west-1.amazonaws.com', bucket: 'kite-prod', region: 'eu-west-1', forcePathStyle: false });
    expect(cfg.common.rootPath).toBe('kite-prod');
    expect(cfg.common.sessionTtlSeconds).toBe(15);
    expect(cfg.security.authorizationEnabled).toBe(true);
    expect(cfg.datanode.segmentMaxRows).toBe(200000);
    expect(cfg.proxy.defaultTimeoutMs).toBe(10000);
    expect(cfg.querycoord.taskRetryMs).toBe(20000);
    expect(cfg.compaction.gcGraceSeconds).toBe(7200);
    expect(cfg.meta.etcdCompactionIntervalSeconds).toBe(600);
  });

  it('keeps the S3 credentials out of the config, in a Secret the pods read', () => {
    const r = render('external');
    const { raw, cfg } = kiteConfig(r);
    expect(JSON.stringify(raw)).not.toContain('example/secret/key');
    expect(cfg.storage.s3.secretAccessKey).toBe('');
    const secret = r.one<Secret>('Secret', `${RELEASE}-kite-s3`);
    expect(secret.stringData).toEqual({ 'access-key-id': 'AKIAEXAMPLEKEY', 'secret-access-key': 'example/secret/key' });
    for (const c of COMPONENTS) {
      const d = r.one<Deployment>('Deployment', name(c));
      const ctr = container(d);
      expect(envOf(ctr, 'KITE_STORAGE_S3_ACCESS_KEY_ID')[0]?.valueFrom?.secretKeyRef).toEqual({ name: secret.metadata.name, key: 'access-key-id' });
      expect(envOf(ctr, 'KITE_STORAGE_S3_SECRET_ACCESS_KEY')[0]?.valueFrom?.secretKeyRef).toEqual({ name: secret.metadata.name, key: 'secret-access-key' });
      expect(d.spec.template.metadata.annotations?.['checksum/s3-secret']).toMatch(/^[0-9a-f]{64}$/);
    }
    // With the Secret's values as the pod's environment, Kite sees the credentials.
    const withCreds = kiteConfig(r, { KITE_STORAGE_S3_ACCESS_KEY_ID: 'AKIAEXAMPLEKEY', KITE_STORAGE_S3_SECRET_ACCESS_KEY: 'example/secret/key' }).cfg;
    expect(withCreds.storage.s3.accessKeyId).toBe('AKIAEXAMPLEKEY');
  });
});

describe('ci/scale-values.yaml', () => {
  it('autoscales the proxy and the query nodes only, and leaves their replica counts to the HPA', () => {
    const r = render('scale');
    const hpas = r.of<Hpa>('HorizontalPodAutoscaler');
    expect(hpas.map((h) => h.metadata.name).sort()).toEqual([name('proxy'), name('querynode')].sort());
    const qn = r.one<Hpa>('HorizontalPodAutoscaler', name('querynode'));
    expect(qn.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: name('querynode') });
    expect([qn.spec.minReplicas, qn.spec.maxReplicas]).toEqual([3, 12]);
    expect(qn.spec.metrics.map((m) => [m.resource.name, m.resource.target.averageUtilization])).toEqual([['cpu', 60], ['memory', 80]]);
    expect(qn.metadata.labels?.component).toBe('querynode');
    expect(r.one<Deployment>('Deployment', name('querynode')).spec.replicas).toBeUndefined();
    expect(r.one<Deployment>('Deployment', name('proxy')).spec.replicas).toBeUndefined();
    expect(r.one<Deployment>('Deployment', name('querycoord')).spec.replicas).toBe(3);
    expect(r.one<Deployment>('Deployment', name('datanode')).spec.replicas).toBe(2);
  });

  it('has a ServiceMonitor that scrapes every component Service on its metrics port', () => {
    const r = render('scale');
    const sm = r.one<ServiceMonitor>('ServiceMonitor', `${RELEASE}-kite`);
    expect(sm.metadata.labels?.release).toBe('prometheus');
    expect(sm.spec.endpoints).toEqual([expect.objectContaining({ port: 'metrics', path: '/metrics' })]);
    // Series carry the Service's component label, so dashboards and alerts tell the components apart.
    expect(sm.spec.targetLabels).toEqual(['component']);
    for (const svc of r.of<Service>('Service')) expect(COMPONENTS).toContain(svc.metadata.labels?.component);
    const selected = r.of<Service>('Service').filter((s) => {
      const labels = s.metadata.labels ?? {};
      const byLabels = Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => labels[k] === v);
      const byExpr = (sm.spec.selector.matchExpressions ?? []).every((e) => e.operator === 'In' && e.values.includes(labels[e.key] ?? ''));
      return byLabels && byExpr && s.spec.ports.some((p) => p.name === 'metrics');
    });
    expect(selected.map((s) => s.metadata.name).sort()).toEqual(COMPONENTS.map(name).sort());
  });

  it('lets a component value override the global one', () => {
    const r = render('scale');
    const qn = r.one<Deployment>('Deployment', name('querynode'));
    const proxy = r.one<Deployment>('Deployment', name('proxy'));
    expect(container(qn).image).toBe('registry.example.com/kite:0.1.0-avx512');
    expect(container(proxy).image).toBe('registry.example.com/kite:0.1.0');
    expect(qn.spec.template.spec.nodeSelector).toEqual({ 'kite.example.com/pool': 'vector' });
    expect(proxy.spec.template.spec.nodeSelector).toEqual({ 'kite.example.com/pool': 'general' });
    expect(container(qn).resources?.requests).toEqual({ cpu: '4', memory: '16Gi' });
    // extraEnv: the component's entry replaces the global one of the same name.
    expect(envOf(container(qn), 'NODE_OPTIONS')).toEqual([{ name: 'NODE_OPTIONS', value: '--max-old-space-size=24576' }]);
    expect(envOf(container(proxy), 'NODE_OPTIONS')).toEqual([{ name: 'NODE_OPTIONS', value: '--max-old-space-size=3072' }]);
    for (const d of [qn, proxy]) expect(d.spec.template.metadata.annotations?.team).toBe('search');
    expect(r.one<Service>('Service', name('proxy')).spec.type).toBe('LoadBalancer');
  });
});

describe('helm/kite for a cluster of several nodes: disruption budgets, spreading, graceful stop', () => {
  const pdbs = (r: Rendered): Record<string, PodDisruptionBudget['spec']> =>
    Object.fromEntries(r.of<PodDisruptionBudget>('PodDisruptionBudget').map((p) => [p.metadata.name, p.spec]));
  const selector = (c: Component): Record<string, string> => ({ 'app.kubernetes.io/name': 'kite', 'app.kubernetes.io/instance': RELEASE, component: c });

  it('gives a PodDisruptionBudget (one replica unavailable at a time) to each component with more than one replica', () => {
    // Defaults: coordinator 2, query nodes 2; proxy and data node 1 (a budget there would block every node drain).
    expect(pdbs(render('default'))).toEqual({
      [name('querycoord')]: { maxUnavailable: 1, selector: { matchLabels: selector('querycoord') } },
      [name('querynode')]: { maxUnavailable: 1, selector: { matchLabels: selector('querynode') } },
    });
    // scale: HPAs with minReplicas 2 (proxy) and 3 (query nodes), 3 coordinators, 2 data nodes.
    expect(Object.keys(pdbs(render('scale'))).sort()).toEqual(COMPONENTS.map(name).sort());
    for (const p of render('scale').of<PodDisruptionBudget>('PodDisruptionBudget')) {
      expect(p.metadata.labels?.component).toBe(p.spec.selector.matchLabels.component);
    }
  });

  it('rolls query nodes and proxies one surge pod at a time, never below the replica count; the others keep Kubernetes\' default', () => {
    for (const v of VALUES_FILES) {
      const r = render(v);
      for (const c of ['proxy', 'querynode'] as const) {
        expect(r.one<Deployment>('Deployment', name(c)).spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
      }
      for (const c of ['querycoord', 'datanode'] as const) expect(r.one<Deployment>('Deployment', name(c)).spec.strategy).toBeUndefined();
    }
  });

  it('takes another strategy from the values: Recreate without rollingUpdate, null for Kubernetes\' default', async () => {
    const r = await template(CHART, { release: RELEASE, set: ['querynode.strategy.type=Recreate', 'proxy.strategy=null', 'datanode.strategy.rollingUpdate.maxSurge=2'] });
    expect(r.one<Deployment>('Deployment', name('querynode')).spec.strategy).toEqual({ type: 'Recreate' });
    expect(r.one<Deployment>('Deployment', name('proxy')).spec.strategy).toBeUndefined();
    expect(r.one<Deployment>('Deployment', name('datanode')).spec.strategy).toEqual({ rollingUpdate: { maxSurge: 2 } });
  });

  it('takes minAvailable or maxUnavailable from the values, and enabled true/false over the replica count', async () => {
    const r = await template(CHART, {
      release: RELEASE,
      set: ['querynode.podDisruptionBudget.minAvailable=50%', 'querynode.podDisruptionBudget.maxUnavailable=', 'datanode.podDisruptionBudget.enabled=true', 'querycoord.podDisruptionBudget.enabled=false'],
    });
    expect(pdbs(r)).toEqual({
      [name('querynode')]: { minAvailable: '50%', selector: { matchLabels: selector('querynode') } },
      [name('datanode')]: { maxUnavailable: 1, selector: { matchLabels: selector('datanode') } },
    });
  });

  it('spreads every component over nodes, softly by default, and keeps the standby coordinator off the active one\'s node', async () => {
    const soft = render('default');
    for (const c of COMPONENTS) {
      const spec = soft.one<Deployment>('Deployment', name(c)).spec.template.spec;
      expect(spec.topologySpreadConstraints).toEqual([
        { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: selector(c) } },
      ]);
    }
    const term = { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selector('querycoord') } };
    expect(soft.one<Deployment>('Deployment', name('querycoord')).spec.template.spec.affinity).toEqual({
      podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term }] },
    });
    expect(soft.one<Deployment>('Deployment', name('querynode')).spec.template.spec.affinity).toBeUndefined();

    const hard = await template(CHART, {
      release: RELEASE,
      set: ['global.topologySpread.whenUnsatisfiable=DoNotSchedule', 'querycoord.podAntiAffinity=hard', 'querynode.podAntiAffinity=hard', 'querynode.topologySpread.enabled=false'],
    });
    expect(hard.one<Deployment>('Deployment', name('proxy')).spec.template.spec.topologySpreadConstraints?.[0]?.whenUnsatisfiable).toBe('DoNotSchedule');
    expect(hard.one<Deployment>('Deployment', name('querynode')).spec.template.spec.topologySpreadConstraints).toBeUndefined();
    expect(hard.one<Deployment>('Deployment', name('querycoord')).spec.template.spec.affinity).toEqual({
      podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] },
    });
    // An anti-affinity of the values' own is kept as it is.
    const own = await template(CHART, { release: RELEASE, set: ['querycoord.affinity.podAntiAffinity.x=1'] });
    expect(own.one<Deployment>('Deployment', name('querycoord')).spec.template.spec.affinity).toEqual({ podAntiAffinity: { x: 1 } });
  });

  it('pauses the proxy before SIGTERM and gives every pod the pause plus common.stopTimeoutMs plus a margin', async () => {
    const grace = (r: Rendered): Record<string, number | undefined> =>
      Object.fromEntries(COMPONENTS.map((c) => [c, r.one<Deployment>('Deployment', name(c)).spec.template.spec.terminationGracePeriodSeconds]));
    const r = render('default');
    const { cfg } = kiteConfig(r);
    expect(cfg.common.stopTimeoutMs).toBe(50_000);
    expect(container(r.one<Deployment>('Deployment', name('proxy'))).lifecycle).toEqual({ preStop: { exec: { command: ['sleep', '5'] } } });
    for (const c of ['querycoord', 'querynode', 'datanode'] as const) expect(container(r.one<Deployment>('Deployment', name(c))).lifecycle).toBeUndefined();
    expect(grace(r)).toEqual({ proxy: 65, querycoord: 60, querynode: 60, datanode: 60 });
    // A longer stop in the config lengthens the grace period with it.
    const longer = await template(CHART, { release: RELEASE, set: ['extraConfig.common.stopTimeoutMs=90500', 'proxy.preStopSleepSeconds=10'] });
    expect(kiteConfig(longer).cfg.common.stopTimeoutMs).toBe(90_500);
    expect(grace(longer)).toEqual({ proxy: 111, querycoord: 101, querynode: 101, datanode: 101 });
    // A value of one's own is kept when it leaves the stop its time.
    const own = await template(CHART, { release: RELEASE, set: ['global.terminationGracePeriodSeconds=120', 'datanode.terminationGracePeriodSeconds=300'] });
    expect(grace(own)).toEqual({ proxy: 120, querycoord: 120, querynode: 120, datanode: 300 });
  });
});

describe('helm/kite values that change or break the render', () => {
  it('changes the checksum annotation on every pod when the config changes, and only then', async () => {
    const checksums = (r: Rendered): string[] => COMPONENTS.map((c) => r.one<Deployment>('Deployment', name(c)).spec.template.metadata.annotations?.['checksum/config'] ?? '');
    const base = checksums(render('default'));
    expect(new Set(base).size).toBe(1);
    const replicas = checksums(await template(CHART, { release: RELEASE, set: ['querynode.replicaCount=5'] }));
    expect(replicas).toEqual(base);
    const changed = checksums(await template(CHART, { release: RELEASE, set: ['config.sessionTtlSeconds=20'] }));
    expect(new Set(changed).size).toBe(1);
    expect(changed[0]).not.toBe(base[0]);
  });

  it('writes an empty S3 endpoint (AWS itself) into the config rather than leaving Kite its MinIO default', async () => {
    const r = await template(CHART, { release: RELEASE, set: ['externalS3.endpoint=', 'externalS3.existingSecret='] });
    const { raw, cfg } = kiteConfig(r);
    expect((raw.storage as { s3: Record<string, unknown> }).s3).toHaveProperty('endpoint', '');
    expect(cfg.storage.s3.endpoint).toBe('');
    // No S3 Secret and no credentials: the S3 client's default chain (an IAM role) applies.
    expect(r.of<Secret>('Secret').map((x) => x.metadata.name)).toEqual([INTERNAL_SECRET]);
    expect(envOf(container(r.one<Deployment>('Deployment', name('datanode'))), 'KITE_STORAGE_S3_ACCESS_KEY_ID')).toEqual([]);
  });

  it('serves the public port with TLS by tls.mode from tls.existingSecret, mounted on the proxy only', async () => {
    for (const mode of [1, 2]) {
      const r = await template(CHART, { release: RELEASE, set: [`tls.mode=${mode}`, 'tls.existingSecret=kite-tls'] });
      const { cfg } = kiteConfig(r);
      expect(cfg.tls).toEqual({ mode, serverPemPath: '/etc/kite/tls/tls.crt', serverKeyPath: '/etc/kite/tls/tls.key', caPemPath: mode === 2 ? '/etc/kite/tls/ca.crt' : '' });
      for (const c of COMPONENTS) {
        const d = r.one<Deployment>('Deployment', name(c));
        const mount = (container(d).volumeMounts ?? []).find((m) => m.mountPath === '/etc/kite/tls');
        const volume = (d.spec.template.spec.volumes ?? []).find((v) => v.name === 'tls');
        if (c === 'proxy') {
          expect(mount).toMatchObject({ name: 'tls', readOnly: true });
          expect(volume?.secret).toEqual({ secretName: 'kite-tls' });
        } else {
          expect([c, mount, volume]).toEqual([c, undefined, undefined]);
        }
      }
    }
    const err = await template(CHART, { release: RELEASE, set: ['tls.mode=1'] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HelmError);
    expect((err as Error).message).toContain('tls.mode 1 needs tls.existingSecret');
  });

  it('takes the cluster secret from internal.existingSecret when given, and then makes none', async () => {
    const r = await template(CHART, { release: RELEASE, set: ['internal.existingSecret=my-cluster', 'internal.secretKey=token'] });
    expect(r.of<Secret>('Secret').map((x) => x.metadata.name)).not.toContain(INTERNAL_SECRET);
    for (const c of COMPONENTS) {
      const ctr = container(r.one<Deployment>('Deployment', name(c)));
      expect(envOf(ctr, 'KITE_INTERNAL_SECRET')[0]?.valueFrom?.secretKeyRef).toEqual({ name: 'my-cluster', key: 'token' });
    }
  });

  it('mounts a shared volume for storage.type local', async () => {
    const r = await template(CHART, { release: RELEASE, set: ['storage.type=local', 'storage.local.existingClaim=kite-objects'] });
    const { cfg } = kiteConfig(r);
    expect(cfg.storage).toMatchObject({ type: 'local', path: '/var/lib/kite-objects' });
    for (const c of COMPONENTS) {
      const d = r.one<Deployment>('Deployment', name(c));
      const ctr = container(d);
      const mount = (ctr.volumeMounts ?? []).find((m) => m.mountPath === '/var/lib/kite-objects');
      expect((d.spec.template.spec.volumes ?? []).find((v) => v.name === mount?.name)?.persistentVolumeClaim).toEqual({ claimName: 'kite-objects' });
      expect(envOf(ctr, 'KITE_STORAGE_S3_ACCESS_KEY_ID')).toEqual([]);
    }
  });

  it('passes the etcd and Kafka passwords from Secrets, mounts the backends\' TLS Secrets and sets the object root path', async () => {
    const r = await template(CHART, {
      release: RELEASE,
      set: [
        'externalEtcd.endpoints[0]=https://etcd:2379',
        'externalEtcd.userName=kite',
        'externalEtcd.password=etcd-pw',
        'externalEtcd.tls.existingSecret=etcd-ca',
        'externalEtcd.tls.certKey=tls.crt',
        'externalEtcd.tls.keyKey=tls.key',
        'externalKafka.securityProtocol=SASL_SSL',
        'externalKafka.saslMechanism=SCRAM-SHA-512',
        'externalKafka.saslUsername=kite',
        'externalKafka.existingSecret=kafka-creds',
        'externalKafka.tls.existingSecret=kafka-ca',
        'externalS3.endpoint=https://s3.example:9000',
        'externalS3.tls.existingSecret=s3-ca',
        'storage.rootPath=clusters/a',
      ],
    });
    const { raw, cfg } = kiteConfig(r, { KITE_META_ETCD_PASSWORD: 'etcd-pw', KITE_WAL_KAFKA_SASL_PASSWORD: 'kafka-pw' });
    expect(JSON.stringify(raw)).not.toContain('etcd-pw');
    expect(cfg.meta).toMatchObject({
      etcdUserName: 'kite',
      etcdPassword: 'etcd-pw',
      etcdCaPemPath: '/etc/kite-tls/etcd/ca.crt',
      etcdCertPemPath: '/etc/kite-tls/etcd/tls.crt',
      etcdKeyPemPath: '/etc/kite-tls/etcd/tls.key',
    });
    expect(cfg.wal).toMatchObject({
      kafkaSecurityProtocol: 'SASL_SSL',
      kafkaSaslMechanism: 'SCRAM-SHA-512',
      kafkaSaslUsername: 'kite',
      kafkaSaslPassword: 'kafka-pw',
      kafkaCaPemPath: '/etc/kite-tls/kafka/ca.crt',
    });
    expect(cfg.storage.rootPath).toBe('clusters/a');
    expect(cfg.storage.s3.caPemPath).toBe('/etc/kite-tls/s3/ca.crt');
    expect(r.one<Secret>('Secret', `${RELEASE}-kite-backends`).stringData).toEqual({ 'etcd-password': 'etcd-pw' });
    for (const c of COMPONENTS) {
      const d = r.one<Deployment>('Deployment', name(c));
      const ctr = container(d);
      expect(envOf(ctr, 'KITE_META_ETCD_PASSWORD')[0]?.valueFrom?.secretKeyRef).toEqual({ name: `${RELEASE}-kite-backends`, key: 'etcd-password' });
      expect(envOf(ctr, 'KITE_WAL_KAFKA_SASL_PASSWORD')[0]?.valueFrom?.secretKeyRef).toEqual({ name: 'kafka-creds', key: 'password' });
      expect(unknownKiteEnv((ctr.env ?? []).map((e) => e.name))).toEqual([]);
      expect(d.spec.template.metadata.annotations?.['checksum/backends-secret']).toMatch(/^[0-9a-f]{64}$/);
      for (const [backend, secret] of [['etcd', 'etcd-ca'], ['kafka', 'kafka-ca'], ['s3', 's3-ca']]) {
        const mount = (ctr.volumeMounts ?? []).find((m) => m.mountPath === `/etc/kite-tls/${backend}`);
        expect(mount?.readOnly).toBe(true);
        expect((d.spec.template.spec.volumes ?? []).find((v) => v.name === mount?.name)?.secret).toEqual({ secretName: secret });
      }
    }
  });

  it('passes no backend credentials or TLS mounts by default', () => {
    const r = render('default');
    const { cfg } = kiteConfig(r);
    expect([cfg.meta.etcdUserName, cfg.wal.kafkaSecurityProtocol, cfg.storage.rootPath]).toEqual(['', 'PLAINTEXT', '']);
    const ctr = container(r.one<Deployment>('Deployment', name('proxy')));
    expect(envOf(ctr, 'KITE_META_ETCD_PASSWORD')).toEqual([]);
    expect(envOf(ctr, 'KITE_WAL_KAFKA_SASL_PASSWORD')).toEqual([]);
    expect((ctr.volumeMounts ?? []).filter((m) => m.mountPath.startsWith('/etc/kite-tls'))).toEqual([]);
  });

  it.each([
    [['externalEtcd.userName=kite'], /externalEtcd.userName needs externalEtcd.existingSecret/],
    [['externalKafka.securityProtocol=SASL_PLAINTEXT'], /externalKafka.securityProtocol SASL_PLAINTEXT needs externalKafka.saslUsername/],
    [['externalKafka.securityProtocol=TLS'], /at '\/externalKafka\/securityProtocol'/],
    [['storage.rootPath=../other'], /at '\/storage\/rootPath'/],
    [['externalEtcd.endpoints=null'], /externalEtcd.endpoints is empty/],
    [['externalKafka.brokers=null'], /externalKafka.brokers is empty/],
    [['storage.type=local'], /storage.type local needs storage.local.existingClaim/],
    // values.schema.json refuses unknown keys and values outside their range before any template runs.
    [['storage.type=gcs'], /at '\/storage\/type': value must be one of 's3', 'local'/],
    [['querynode.replicaCounts=3'], /at '\/querynode': additional properties 'replicaCounts' not allowed/],
    [['proxy.hpa.targetCPUUtilizationPercentage=120'], /at '\/proxy\/hpa\/targetCPUUtilizationPercentage'/],
    [['datanode.hpa.enabled=true'], /datanode.hpa.enabled: only proxy and querynode/],
    [['externalS3.existingSecret=', 'externalS3.accessKeyId=AK'], /externalS3.secretAccessKey is required/],
    [['global.terminationGracePeriodSeconds=30'], /(querycoord|querynode|datanode): terminationGracePeriodSeconds 30 is shorter than preStopSleepSeconds \(0\) \+ common.stopTimeoutMs \(50 s\)/],
    [['proxy.terminationGracePeriodSeconds=52'], /proxy: terminationGracePeriodSeconds 52 is shorter than preStopSleepSeconds \(5\)/],
    [['querynode.podDisruptionBudget.minAvailable=1'], /querynode.podDisruptionBudget: set minAvailable or maxUnavailable, not both/],
    [['querycoord.podAntiAffinity=always'], /at '\/querycoord\/podAntiAffinity': value must be one of '', 'soft', 'hard'/],
    [['global.topologySpread.whenUnsatisfiable=Never'], /at '\/global\/topologySpread\/whenUnsatisfiable'/],
  ])('refuses %j with a message naming the value', async (set, message) => {
    const err = await template(CHART, { release: RELEASE, set }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HelmError);
    expect((err as HelmError).stderr).toMatch(message);
  });

  it('renders extraConfig keys that Kite does not know, and the key check reports them', async () => {
    const r = await template(CHART, { release: RELEASE, set: ['extraConfig.datanode.segmentMaxRow=5', 'extraConfig.proxy.port.grpc=1'] });
    const text = r.one<ConfigMap>('ConfigMap', `${RELEASE}-kite-config`).data['kite.yaml'] ?? '';
    expect(unknownConfigKeys(YAML.parse(text))).toEqual(['datanode.segmentMaxRow', 'proxy.port (a mapping where a value belongs)']);
    expect(unknownKiteEnv(['KITE_PROXY_PORT', 'KITE_PROXY_PROT', 'KITE_LOG_LEVEL', 'PATH'])).toEqual(['KITE_PROXY_PROT']);
    expect(configEnvNames().get('KITE_STORAGE_S3_SECRET_ACCESS_KEY')).toEqual(['storage', 's3', 'secretAccessKey']);
  });
});
