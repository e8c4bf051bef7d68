/**
 * Runs the Helm CLI that scripts/install-helm.sh builds into .cache/bin, and types the parts of rendered manifests
 * the chart tests read.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';

const execFileP = promisify(execFile);

export const REPO = path.resolve(__dirname, '..', '..');
export const CHART = path.join(REPO, 'helm', 'kite');
export const STACK_CHART = path.join(REPO, 'helm', 'kite-stack');
export const HELM = process.env.KITE_HELM ?? path.join(REPO, '.cache', 'bin', 'helm');

/** The version scripts/install-helm.sh pins. */
export function pinnedHelmVersion(): string {
  const script = fs.readFileSync(path.join(REPO, 'scripts', 'install-helm.sh'), 'utf8');
  const m = /^HELM_VERSION="(v[0-9.]+)"$/m.exec(script);
  if (!m?.[1]) throw new Error('scripts/install-helm.sh has no HELM_VERSION="vX.Y.Z" line');
  return m[1];
}

export class HelmError extends Error {
  constructor(
    message: string,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

/** Runs helm; rejects with its output when it exits non-zero. */
export async function helm(args: string[]): Promise<string> {
  if (!fs.existsSync(HELM)) {
    throw new Error(`helm is not installed at ${HELM}: run \`bash scripts/install-helm.sh\` (make setup does)`);
  }
  try {
    const { stdout } = await execFileP(HELM, args, { maxBuffer: 64 << 20, env: { ...process.env, HELM_CACHE_HOME: path.join(REPO, '.cache', 'helm', 'cache'), HELM_CONFIG_HOME: path.join(REPO, '.cache', 'helm', 'config'), HELM_DATA_HOME: path.join(REPO, '.cache', 'helm', 'data') } });
    return stdout;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new HelmError(`helm ${args.join(' ')} failed: ${err.stderr || err.message}`, err.stdout ?? '', err.stderr ?? '');
  }
}

export interface Meta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: Meta;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
}

export interface Probe {
  httpGet?: { path: string; port: string | number };
  periodSeconds?: number;
}

export interface Container {
  name: string;
  image: string;
  args?: string[];
  ports?: { name: string; containerPort: number }[];
  env?: EnvVar[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
}

export interface Volume {
  name: string;
  configMap?: { name: string };
  emptyDir?: Record<string, unknown>;
  persistentVolumeClaim?: { claimName: string };
  secret?: { secretName: string };
}

export interface Deployment extends K8sObject {
  spec: {
    replicas?: number;
    strategy?: { type?: string; rollingUpdate?: { maxUnavailable?: number | string; maxSurge?: number | string } };
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
      spec: {
        containers: Container[];
        volumes?: Volume[];
        nodeSelector?: Record<string, string>;
        affinity?: { podAntiAffinity?: Record<string, unknown> };
        securityContext?: Record<string, unknown>;
        terminationGracePeriodSeconds?: number;
        topologySpreadConstraints?: {
          maxSkew: number;
          topologyKey: string;
          whenUnsatisfiable: string;
          labelSelector: { matchLabels: Record<string, string> };
        }[];
      };
    };
  };
}

export interface Service extends K8sObject {
  spec: {
    type?: string;
    clusterIP?: string;
    selector: Record<string, string>;
    ports: { name: string; port: number; targetPort: string | number }[];
  };
}

export interface ConfigMap extends K8sObject {
  data: Record<string, string>;
}

export interface Secret extends K8sObject {
  stringData?: Record<string, string>;
  data?: Record<string, string>;
}

export interface Hpa extends K8sObject {
  spec: {
    scaleTargetRef: { kind: string; name: string };
    minReplicas: number;
    maxReplicas: number;
    metrics: { type: string; resource: { name: string; target: { averageUtilization: number } } }[];
  };
}

export interface ServiceMonitor extends K8sObject {
  spec: {
    selector: { matchLabels: Record<string, string>; matchExpressions?: { key: string; operator: string; values: string[] }[] };
    endpoints: { port: string; path: string }[];
    targetLabels?: string[];
  };
}

export interface PodDisruptionBudget extends K8sObject {
  spec: { minAvailable?: number | string; maxUnavailable?: number | string; selector: { matchLabels: Record<string, string> } };
}

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface PrometheusRule extends K8sObject {
  spec: { groups: { name: string; rules: AlertRule[] }[] };
}

/** The objects of a multi-document YAML stream (empty documents dropped); throws on a YAML error. */
export function parseManifests(text: string): K8sObject[] {
  const docs = YAML.parseAllDocuments(text);
  const objects: K8sObject[] = [];
  for (const doc of docs) {
    if (doc.errors.length) throw new Error(`rendered YAML does not parse: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    if (value == null) continue;
    const o = value as Partial<K8sObject>;
    if (typeof o.kind !== 'string' || typeof o.apiVersion !== 'string' || typeof o.metadata?.name !== 'string') {
      throw new Error(`a rendered document is not a Kubernetes object: ${JSON.stringify(value).slice(0, 200)}`);
    }
    objects.push(o as K8sObject);
  }
  return objects;
}

export interface Rendered {
  objects: K8sObject[];
  of<T extends K8sObject>(kind: string): T[];
  one<T extends K8sObject>(kind: string, name: string): T;
}

export function rendered(objects: K8sObject[]): Rendered {
  return {
    objects,
    of: <T extends K8sObject>(kind: string) => objects.filter((o) => o.kind === kind) as T[],
    one: <T extends K8sObject>(kind: string, name: string) => {
      const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
      if (found.length !== 1) {
        const have = objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ');
        throw new Error(`expected one ${kind}/${name}, found ${found.length} among ${have}`);
      }
      return found[0] as T;
    },
  };
}

/** `helm template` of a chart with values files and --set flags, parsed. */
export async function template(chart: string, opts: { release?: string; namespace?: string; values?: string[]; set?: string[] } = {}): Promise<Rendered> {
  const args = ['template', opts.release ?? 'kite-test', chart, '--namespace', opts.namespace ?? 'kite'];
  for (const f of opts.values ?? []) args.push('--values', f);
  for (const s of opts.set ?? []) args.push('--set', s);
  return rendered(parseManifests(await helm(args)));
}
