/**
 * Kite's alert rules: deploy/prometheus/kite-alerts.yml checked and unit-tested with promtool (Debian's prometheus
 * package, which `make setup` installs; the suite fails, not skips, without it), the chart's copy kept identical,
 * and the chart's PrometheusRule carrying exactly those rules. Every metric the rules use is one Kite exports.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { PROMTOOL_BIN, requireBinary } from '../observability/prometheus';
import { CHART, REPO, template, type AlertRule, type PrometheusRule } from './helm';

jest.setTimeout(60_000);

const RULES = path.join(REPO, 'deploy', 'prometheus', 'kite-alerts.yml');
const RULES_TEST = path.join(REPO, 'deploy', 'prometheus', 'kite-alerts.test.yml');
const CHART_COPY = path.join(CHART, 'files', 'kite-alerts.yml');

interface RulesFile {
  groups: { name: string; rules: AlertRule[] }[];
}
const rulesFile = (): RulesFile => YAML.parse(fs.readFileSync(RULES, 'utf8')) as RulesFile;

function promtool(args: string[]): { code: number | null; output: string } {
  const res = spawnSync(PROMTOOL_BIN, args, { encoding: 'utf8', cwd: REPO, timeout: 30_000 });
  return { code: res.status, output: `${res.stdout}${res.stderr}` };
}

beforeAll(() => requireBinary(PROMTOOL_BIN));

test('promtool accepts the rules and their unit tests pass', () => {
  const check = promtool(['check', 'rules', RULES]);
  expect(check).toEqual({ code: 0, output: expect.stringMatching(/SUCCESS: \d+ rules found/) });
  const run = promtool(['test', 'rules', RULES_TEST]);
  expect(run).toEqual({ code: 0, output: expect.stringContaining('SUCCESS') });
});

test('every alert has a unit test that expects it to fire', () => {
  const tests = YAML.parse(fs.readFileSync(RULES_TEST, 'utf8')) as { tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[] };
  const fired = new Set(tests.tests.flatMap((t) => (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
  const alerts = rulesFile().groups.flatMap((g) => g.rules.map((r) => r.alert));
  expect(alerts.filter((a) => !fired.has(a))).toEqual([]);
});

test('the rules use only metrics Kite exports', () => {
  const src = spawnSync('grep', ['-rhoE', "(counter|gauge|histogram|timed)\\([^'`]*['`]kite_[a-z_]+", 'services', 'packages', '--include=*.ts', '--exclude=*.test.ts', '--exclude-dir=dist', '--exclude-dir=node_modules'], { cwd: REPO, encoding: 'utf8' });
  const exported = new Set<string>();
  for (const m of src.stdout.matchAll(/(counter|gauge|histogram|timed)\([^'`]*['`](kite_[a-z_]+)/g)) {
    const [kind, metric] = [m[1]!, m[2]!];
    if (kind === 'timed') for (const s of ['_duration_seconds_count', '_duration_seconds_bucket', '_failures_total']) exported.add(metric + s);
    else if (kind === 'histogram') for (const s of ['_bucket', '_count', '_sum']) exported.add(metric + s);
    else exported.add(metric);
  }
  // Metrics named through a template literal (rpc's kite_${component}_requests_total) by their components.
  for (const c of ['proxy', 'querycoord', 'querynode', 'datanode']) exported.add(`kite_${c}_requests_total`);
  expect(exported.size).toBeGreaterThan(20);
  const used = new Set(rulesFile().groups.flatMap((g) => g.rules.flatMap((r) => r.expr.match(/\bkite_[a-z_]+/g) ?? [])));
  expect(used.size).toBeGreaterThan(0);
  expect([...used].filter((m) => !exported.has(m))).toEqual([]);
});

test('the chart carries an identical copy, rendered into a PrometheusRule with the extra labels', async () => {
  expect(fs.readFileSync(CHART_COPY, 'utf8')).toBe(fs.readFileSync(RULES, 'utf8'));
  const off = await template(CHART, { release: 'demo' });
  expect(off.of('PrometheusRule')).toEqual([]);
  const r = await template(CHART, {
    release: 'demo',
    set: ['metrics.prometheusRule.enabled=true', 'metrics.prometheusRule.labels.release=prometheus', 'metrics.prometheusRule.additionalLabels.team=search'],
  });
  const rule = r.one<PrometheusRule>('PrometheusRule', 'demo-kite');
  expect(rule.metadata.labels?.release).toBe('prometheus');
  const want = rulesFile().groups.map((g) => ({ name: g.name, rules: g.rules.map((x) => ({ ...x, labels: { ...x.labels, team: 'search' } })) }));
  expect(rule.spec.groups).toEqual(want);
});
