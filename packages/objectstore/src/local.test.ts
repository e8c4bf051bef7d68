import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { objectStoreContract } from './contract';
import { LocalObjectStore } from './local';
import { openObjectStore } from './open';
import { crashValue } from './testing/crash-child';

const tmpDirs: string[] = [];
async function tmpDir(): Promise<string> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kite-objects-'));
  tmpDirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const d of tmpDirs) await fs.promises.rm(d, { recursive: true, force: true });
});

objectStoreContract('local', async () => {
  const dir = await tmpDir();
  let store = await LocalObjectStore.open(dir);
  return {
    store,
    cleanup: async () => {
      await store.close();
      await fs.promises.rm(dir, { recursive: true, force: true });
    },
    reopen: async () => {
      await store.close();
      store = await LocalObjectStore.open(dir);
      return store;
    },
  };
});

describe('LocalObjectStore', () => {
  let dir: string;
  let store: LocalObjectStore;
  beforeEach(async () => {
    dir = await tmpDir();
    store = await LocalObjectStore.open(dir);
  });

  it('keeps objects as files in sub-directories of its directory', async () => {
    await store.put('segments/12/col_1', Buffer.from('data'));
    expect(await fs.promises.readFile(path.join(dir, 'segments', '12', 'col_1'), 'utf8')).toBe('data');
  });

  it('refuses keys that are malformed or would escape the directory', async () => {
    const outside = path.join(path.dirname(dir), 'escaped');
    for (const key of ['', '../escaped', 'a/../../escaped', '/etc/passwd', 'a//b', 'a/./b', 'a/', '.', '..', 'x\0y', '.kite-tmp/x']) {
      await expect(store.put(key, Buffer.from('x'))).rejects.toMatchObject({ kind: 'ParameterInvalid' });
      await expect(store.get(key)).rejects.toMatchObject({ kind: 'ParameterInvalid' });
      await expect(store.exists(key)).rejects.toMatchObject({ kind: 'ParameterInvalid' });
      await expect(store.delete(key)).rejects.toMatchObject({ kind: 'ParameterInvalid' });
    }
    await expect(store.list('../')).rejects.toMatchObject({ kind: 'ParameterInvalid' });
    await expect(store.deletePrefix('a/../../')).rejects.toMatchObject({ kind: 'ParameterInvalid' });
    await expect(store.put('k'.repeat(1025), Buffer.from('x'))).rejects.toMatchObject({ kind: 'ParameterInvalid' });
    expect(fs.existsSync(outside)).toBe(false);
    // Names that merely contain dots are fine.
    await store.put('a/..b/.c', Buffer.from('ok'));
    expect((await store.get('a/..b/.c')).toString()).toBe('ok');
  });

  it('refuses an object key that is another object\'s "directory", and the reverse', async () => {
    await store.put('a/b', Buffer.from('1'));
    await expect(store.put('a', Buffer.from('2'))).rejects.toMatchObject({ kind: 'ParameterInvalid' });
    await store.put('f', Buffer.from('3'));
    await expect(store.put('f/g', Buffer.from('4'))).rejects.toMatchObject({ kind: 'ParameterInvalid' });
    expect((await store.list('')).map((o) => o.key)).toEqual(['a/b', 'f']);
    expect(await fs.promises.readdir(path.join(dir, '.kite-tmp'))).toEqual([]);
  });

  it('prunes directories emptied by deletes', async () => {
    await store.put('p/q/r/s', Buffer.from('1'));
    await store.put('p/keep', Buffer.from('2'));
    await store.delete('p/q/r/s');
    expect(fs.existsSync(path.join(dir, 'p', 'q'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'p', 'keep'))).toBe(true);
    expect(await store.deletePrefix('p/')).toBe(1);
    expect(await fs.promises.readdir(dir)).toEqual(['.kite-tmp']);
  });

  it('never shows an interrupted put: temporary files are invisible and removed on open', async () => {
    await store.put('real', Buffer.from('1'));
    // What a crash in the middle of a put leaves behind.
    await fs.promises.writeFile(path.join(dir, '.kite-tmp', 'half-written'), Buffer.from('partial'));
    expect((await store.list('')).map((o) => o.key)).toEqual(['real']);
    store = await LocalObjectStore.open(dir);
    expect(await fs.promises.readdir(path.join(dir, '.kite-tmp'))).toEqual([]);
    expect((await store.list('')).map((o) => o.key)).toEqual(['real']);
  });

  it('rejects calls after close', async () => {
    await store.close();
    await expect(store.get('a')).rejects.toMatchObject({ kind: 'ServiceNotReady' });
  });

  it('loses no acknowledged object and shows no partial one when killed with SIGKILL mid-stream', async () => {
    const crashDir = await tmpDir();
    const child = spawn(
      process.execPath,
      [path.join(__dirname, '..', '..', '..', 'scripts', 'run-ts.js'), path.join(__dirname, 'testing', 'crash-child.ts'), crashDir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let started = 0;
    let lines = 0;
    let err = '';
    let killed = false;
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_c, sig) => resolve(sig)));
    child.stdout.on('data', (d: Buffer) => {
      const chunk = d.toString();
      out += chunk;
      lines += chunk.split('\n').length - 1;
      if (started === 0 && out.startsWith('ready\n')) started = Date.now();
      const acks = lines - 1; // after the `ready` line
      // Kill after 300 acks, or after 1 s of writing on a slow (busy) machine.
      if (!killed && (acks >= 300 || (acks >= 50 && started > 0 && Date.now() - started > 1000))) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    expect(await exited).toBe('SIGKILL');
    expect(err).toBe('');
    const acked = out
      .split('\n')
      .filter((l) => l.startsWith('ack '))
      .map((l) => Number(l.slice(4)));
    expect(acked.length).toBeGreaterThanOrEqual(50);

    const recovered = await LocalObjectStore.open(crashDir);
    for (const n of acked) expect((await recovered.get(`obj/${n % 50}/${n}`)).equals(crashValue(n))).toBe(true);
    // Every visible object is whole: its content is crashValue of the number it names (or of some n, for `hot`).
    for (const o of await recovered.list('')) {
      const b = await recovered.get(o.key);
      const n = b.readUInt32LE(0);
      expect(b.equals(crashValue(n))).toBe(true);
      if (o.key !== 'hot') expect(o.key).toBe(`obj/${n % 50}/${n}`);
    }
    expect(await fs.promises.readdir(path.join(crashDir, '.kite-tmp'))).toEqual([]);
  }, 60_000);
});

describe('openObjectStore (local) with storage.rootPath', () => {
  const s3 = { endpoint: '', bucket: 'b', region: 'us-east-1', accessKeyId: '', secretAccessKey: '', forcePathStyle: true };

  it('keeps the earlier layout with the default empty root path', async () => {
    const dir = await tmpDir();
    const store = await openObjectStore({ type: 'local', path: dir, rootPath: '', s3 });
    await store.put('collections/1/segments/2/col_1', Buffer.from('x'));
    expect(fs.readFileSync(path.join(dir, 'collections', '1', 'segments', '2', 'col_1'), 'utf8')).toBe('x');
    await store.close();
  });

  it('keeps two clusters sharing one directory apart: a drop in one leaves the other', async () => {
    const dir = await tmpDir();
    const a = await openObjectStore({ type: 'local', path: dir, rootPath: 'kite-a', s3 });
    const b = await openObjectStore({ type: 'local', path: dir, rootPath: 'clusters/kite-b/', s3 });
    for (const store of [a, b]) {
      await store.put('collections/1/segments/2/col_1', Buffer.from(store === a ? 'A' : 'B'));
      await store.put('collections/10/segments/3/col_1', Buffer.from('other'));
    }
    expect(fs.readFileSync(path.join(dir, 'kite-a', 'collections', '1', 'segments', '2', 'col_1'), 'utf8')).toBe('A');
    expect(fs.readFileSync(path.join(dir, 'clusters', 'kite-b', 'collections', '1', 'segments', '2', 'col_1'), 'utf8')).toBe('B');
    // Dropping collection 1 in cluster A (a deletePrefix of its collection) removes A's objects only.
    expect(await a.deletePrefix('collections/1/')).toBe(1);
    expect(await a.exists('collections/1/segments/2/col_1')).toBe(false);
    expect((await b.get('collections/1/segments/2/col_1')).toString()).toBe('B');
    expect((await b.list('')).map((o) => o.key)).toEqual(['collections/1/segments/2/col_1', 'collections/10/segments/3/col_1']);
    expect(await b.deletePrefix('')).toBe(2);
    expect((await a.list('')).map((o) => o.key)).toEqual(['collections/10/segments/3/col_1']);
    await a.close();
    await b.close();
  });

  it('refuses a root path that would leave the directory, naming storage.rootPath', async () => {
    const dir = await tmpDir();
    for (const rootPath of ['../x', 'a/../../x', '/abs', 'a//b', '.', '.kite-tmp', 'a\\b']) {
      const err = await openObjectStore({ type: 'local', path: dir, rootPath, s3 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ kind: 'ParameterInvalid' });
      expect((err as Error).message).toContain('storage.rootPath');
    }
    expect(fs.existsSync(path.join(path.dirname(dir), 'x'))).toBe(false);
  });
});
