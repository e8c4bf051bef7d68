// Which faiss the addon linked (scripts/faiss-link.js picks it when the addon is built): the rest of the suite runs
// on whichever it is, and this names it in the test output.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { faissBuildInfo } from './index';

const LINK = path.join(__dirname, '..', 'scripts', 'faiss-link.js');

function link(key: string | undefined, env: Record<string, string>): string {
  return execFileSync(process.execPath, key ? [LINK, key] : [LINK], { encoding: 'utf8', env: { ...process.env, ...env } }).trim();
}

function cpuHas(flags: string[]): boolean {
  const line = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags')) ?? '';
  const have = new Set(line.split(':')[1]?.trim().split(/\s+/));
  return flags.every((f) => have.has(f));
}

function debianVersion(): string {
  return execFileSync('dpkg-query', ['-W', '-f=${source:Version}', 'libfaiss-dev'], { encoding: 'utf8' }).trim();
}

describe('faiss build info', () => {
  it('names the linked library, and binding.gyp chose the library that faiss itself reports', () => {
    const info = faissBuildInfo();
    console.log(`faiss addon: ${info.simd} (faiss compile options "${info.compileOptions}"; chosen at build: ${info.library})`);
    expect(['avx2', 'generic']).toContain(info.simd);
    expect(info.compileOptions).toMatch(/\b(AVX2|GENERIC)\b/);
    // An addon built against the AVX2 headers but linked to the generic archive (or the reverse) would differ here.
    expect(info.library).toBe(info.simd);
    if (info.simd === 'avx2') expect(cpuHas(['avx2', 'fma', 'f16c', 'popcnt'])).toBe(true);
  });
});

describe('faiss-link.js (the build-time choice)', () => {
  let cache: string;
  beforeAll(() => {
    cache = fs.mkdtempSync(path.join(os.tmpdir(), 'kite-faiss-link-'));
  });
  afterAll(() => fs.rmSync(cache, { recursive: true, force: true }));

  it('falls back to Debian\'s generic libfaiss when no AVX2 build is there', () => {
    expect(link('libraries', { KITE_FAISS_SIMD_CACHE: cache })).toBe('-lfaiss');
    expect(link('include', { KITE_FAISS_SIMD_CACHE: cache })).toBe('');
    expect(link('defines', { KITE_FAISS_SIMD_CACHE: cache })).toBe('KITE_FAISS_LIBRARY=generic');
    expect(link(undefined, { KITE_FAISS_SIMD_CACHE: cache })).toMatch(/^faiss library: generic \(/);
  });

  it('links the cached AVX2 archive when it is there and the CPU can run it; KITE_FAISS_SIMD=off overrides', () => {
    const dir = path.join(cache, debianVersion());
    fs.mkdirSync(path.join(dir, 'lib'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'lib', 'libfaiss_avx2.a'), '');
    const env = { KITE_FAISS_SIMD_CACHE: cache };
    if (cpuHas(['avx2', 'fma', 'f16c', 'popcnt'])) {
      expect(link('libraries', env)).toBe(path.join(dir, 'lib', 'libfaiss_avx2.a'));
      expect(link('include', env)).toBe(path.join(dir, 'include'));
      expect(link('defines', env)).toBe('KITE_FAISS_LIBRARY=avx2');
    } else {
      expect(link('libraries', env)).toBe('-lfaiss');
    }
    expect(link('libraries', { ...env, KITE_FAISS_SIMD: 'off' })).toBe('-lfaiss');
    expect(link('defines', { ...env, KITE_FAISS_SIMD: 'off' })).toBe('KITE_FAISS_LIBRARY=generic');
  });

  it('rejects an unknown key', () => {
    expect(() => execFileSync(process.execPath, [LINK, 'cflags'], { stdio: 'pipe' })).toThrow(/unknown key "cflags"/);
  });
});
