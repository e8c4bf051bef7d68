/**
 * deploy/Dockerfile linted with hadolint (scripts/install-hadolint.sh installs the pinned version into
 * .cache/hadolint-venv; `make setup` runs it) and the repository's .hadolint.yaml: any finding, of any level, fails.
 * The suite fails, not skips, without the linter.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';

const REPO = path.resolve(__dirname, '..', '..');
const DOCKERFILE = path.join(REPO, 'deploy', 'Dockerfile');
const CONFIG = path.join(REPO, '.hadolint.yaml');
const HADOLINT = process.env.KITE_HADOLINT ?? path.join(REPO, '.cache', 'hadolint-venv', 'bin', 'hadolint');

interface Finding {
  code: string;
  level: string;
  line: number;
  message: string;
}

/** Runs hadolint with the repository's config on a file, or on `stdin` when given; JSON findings and exit status. */
function hadolint(file: string, stdin?: string): { findings: Finding[]; status: number | null } {
  const res = spawnSync(HADOLINT, ['--config', CONFIG, '--format', 'json', file], {
    cwd: REPO,
    encoding: 'utf8',
    input: stdin,
    timeout: 30_000,
  });
  if (res.error) throw res.error;
  if (!res.stdout.trim().startsWith('[')) throw new Error(`hadolint printed no JSON (status ${res.status}): ${res.stdout}${res.stderr}`);
  return { findings: JSON.parse(res.stdout) as Finding[], status: res.status };
}

beforeAll(() => {
  if (!fs.existsSync(HADOLINT)) {
    throw new Error(`hadolint is not installed at ${HADOLINT}: run \`bash scripts/install-hadolint.sh\` (make setup does)`);
  }
  const pinned = /^HADOLINT_VERSION="([0-9.]+)"$/m.exec(fs.readFileSync(path.join(REPO, 'scripts', 'install-hadolint.sh'), 'utf8'))?.[1];
  expect(pinned).toBeDefined();
  const version = spawnSync(HADOLINT, ['--version'], { encoding: 'utf8', timeout: 30_000 }).stdout;
  expect(version.trim()).toBe(`Haskell Dockerfile Linter ${pinned}`);
});

describe('deploy/Dockerfile under hadolint', () => {
  it('has no findings', () => {
    const { findings, status } = hadolint(DOCKERFILE);
    expect(findings.map((f) => `deploy/Dockerfile:${f.line} ${f.code} ${f.level}: ${f.message}`)).toEqual([]);
    expect(status).toBe(0);
  });

  it('ignores only rules whose reason the config states, and fails on info-level findings', () => {
    const doc = YAML.parseDocument(fs.readFileSync(CONFIG, 'utf8'));
    expect(doc.errors).toEqual([]);
    expect(doc.get('failure-threshold')).toBe('info');
    const ignored = doc.get('ignored');
    if (!YAML.isSeq(ignored)) throw new Error('.hadolint.yaml: `ignored` is not a list');
    ignored.items.forEach((item, i) => {
      if (!YAML.isScalar(item)) throw new Error('.hadolint.yaml: an `ignored` entry is not a rule code');
      // The comment above the entry names the rule and says why (a sentence, not just the code). The parser hangs
      // the comment above the first entry on the list itself.
      const reason = (item.commentBefore ?? (i === 0 ? ignored.commentBefore : '') ?? '').trim();
      expect([item.value, reason.startsWith(`${String(item.value)} `) && reason.length > 60]).toEqual([item.value, true]);
    });
    // Only `ignored` and the threshold: no trusted-registry or override settings that would silence rules unseen.
    expect(Object.keys(doc.toJS() as object).sort()).toEqual(['failure-threshold', 'ignored']);
  });

  it('reports what it should with this config (a bare `cd` and a user by name, an info-level rule, fail)', () => {
    const bad = ['FROM debian:bookworm-slim', 'RUN cd /tmp && touch x', 'USER nobody', ''].join('\n');
    const { findings, status } = hadolint('-', bad);
    expect(findings.map((f) => [f.line, f.code])).toEqual([
      [2, 'DL3003'],
      [3, 'DL3066'],
    ]);
    expect(status).not.toBe(0);
  });
});
