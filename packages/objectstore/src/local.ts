/**
 * LocalObjectStore: objects as files under a directory, for standalone. A key's `/`-separated parts are
 * sub-directories (`segments/12/col_1` is `<dir>/segments/12/col_1`). A put writes a temporary file, fsyncs it and
 * renames it over the target, so readers and a restart see the old object or the whole new one, never a part.
 * Temporary files live in `<dir>/.kite-tmp/` (a reserved key prefix) and are removed on open.
 *
 * Unlike S3, one key cannot be both an object and a "directory" of others (`a` and `a/b`): the second put of such a
 * pair is refused with ParameterInvalid. Kite's keys never do this.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KiteError, processAlive } from '@kite/common';
import type { ObjectInfo, ObjectStore } from './types';

export interface LocalObjectStoreOptions {
  /**
   * fsync each object and its directory before `put` resolves (default true). Off only for throwaway data: a crash
   * may then lose recent objects (never expose partial ones).
   */
  fsync?: boolean;
}

const TMP_DIR = '.kite-tmp';
/** S3's limit on key length, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** Byte order of UTF-8 strings, as S3 lists keys. */
function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function checkParts(parts: string[], what: string, value: string): void {
  for (const part of parts) {
    if (part === '' || part === '.' || part === '..') {
      throw new KiteError(
        'ParameterInvalid',
        `${what} "${value}" is invalid: parts between "/" must be non-empty and not "." or ".."`,
      );
    }
  }
}

export class LocalObjectStore implements ObjectStore {
  private closed = false;

  private constructor(
    private readonly root: string,
    private readonly fsync: boolean,
  ) {}

  static async open(dir: string, options: LocalObjectStoreOptions = {}): Promise<LocalObjectStore> {
    const root = path.resolve(dir);
    await fs.promises.mkdir(root, { recursive: true });
    // Leftovers of puts a crash interrupted; never visible as objects. Several processes may share the directory
    // (a local cluster), so only files of processes that are gone are removed: temp names start with the pid.
    const tmpDir = path.join(root, TMP_DIR);
    await fs.promises.mkdir(tmpDir, { recursive: true });
    for (const name of await fs.promises.readdir(tmpDir)) {
      const pid = Number(name.split('-')[0]);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) continue;
      await fs.promises.rm(path.join(tmpDir, name), { force: true });
    }
    return new LocalObjectStore(root, options.fsync ?? true);
  }

  async put(key: string, data: Buffer): Promise<void> {
    this.checkOpen();
    const target = this.pathOf(key);
    if (!Buffer.isBuffer(data)) throw new KiteError('ParameterInvalid', `object ${key}: data must be a Buffer`);
    const tmp = path.join(this.root, TMP_DIR, `${process.pid}-${randomUUID()}`);
    try {
      const fh = await fs.promises.open(tmp, 'w');
      try {
        await fh.writeFile(data);
        if (this.fsync) await fh.sync();
      } finally {
        await fh.close();
      }
      await this.renameInto(tmp, target, key);
      if (this.fsync) await fsyncDir(path.dirname(target));
    } catch (e) {
      await fs.promises.rm(tmp, { force: true });
      if (e instanceof KiteError) throw e;
      throw new KiteError('IoFailed', `put of object ${key} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Renames into place, recreating the parent if a concurrent delete pruned it in between. */
  private async renameInto(tmp: string, target: string, key: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await fs.promises.mkdir(path.dirname(target), { recursive: true });
        await fs.promises.rename(tmp, target);
        return;
      } catch (e) {
        const code = errno(e);
        if (code === 'ENOTDIR' || code === 'EEXIST' || code === 'EISDIR') {
          throw new KiteError(
            'ParameterInvalid',
            `object key ${key} conflicts with an existing object: the local store cannot hold both "a" and "a/..."`,
          );
        }
        if (code !== 'ENOENT' || attempt >= 5) throw e;
      }
    }
  }

  async get(key: string): Promise<Buffer> {
    this.checkOpen();
    const file = this.pathOf(key);
    try {
      return await fs.promises.readFile(file);
    } catch (e) {
      const code = errno(e);
      if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') {
        throw new KiteError('IoFailed', `object ${key} not found`, { retriable: false });
      }
      throw new KiteError('IoFailed', `get of object ${key} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  async exists(key: string): Promise<boolean> {
    this.checkOpen();
    const file = this.pathOf(key);
    try {
      return (await fs.promises.stat(file)).isFile();
    } catch (e) {
      const code = errno(e);
      if (code === 'ENOENT' || code === 'ENOTDIR') return false;
      throw new KiteError('IoFailed', `exists of object ${key} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    this.checkOpen();
    if (typeof prefix !== 'string') throw new KiteError('ParameterInvalid', 'list prefix must be a string');
    const slash = prefix.lastIndexOf('/');
    const dirPart = slash < 0 ? '' : prefix.slice(0, slash);
    if (dirPart !== '') checkParts(dirPart.split('/'), 'list prefix', prefix);
    const namePrefix = prefix.slice(slash + 1);
    const out: ObjectInfo[] = [];
    const walk = async (dir: string, keyPrefix: string, filter: string): Promise<void> => {
      let entries: fs.Dirent[];
      try {
        entries = await fs.promises.readdir(dir, { withFileTypes: true });
      } catch (e) {
        if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') return;
        throw e;
      }
      for (const ent of entries) {
        if (!ent.name.startsWith(filter)) continue;
        if (keyPrefix === '' && ent.name === TMP_DIR) continue;
        const full = path.join(dir, ent.name);
        if (ent.isDirectory()) await walk(full, `${keyPrefix}${ent.name}/`, '');
        else if (ent.isFile()) {
          try {
            out.push({ key: keyPrefix + ent.name, size: (await fs.promises.stat(full)).size });
          } catch (e) {
            if (errno(e) !== 'ENOENT') throw e; // deleted while listing
          }
        }
      }
    };
    try {
      await walk(dirPart === '' ? this.root : path.join(this.root, ...dirPart.split('/')), dirPart === '' ? '' : `${dirPart}/`, namePrefix);
    } catch (e) {
      throw new KiteError('IoFailed', `list of prefix ${prefix} failed: ${(e as Error).message}`, { cause: e });
    }
    return out.sort((a, b) => compareKeys(a.key, b.key));
  }

  async delete(key: string): Promise<void> {
    this.checkOpen();
    const file = this.pathOf(key);
    try {
      await fs.promises.unlink(file);
    } catch (e) {
      const code = errno(e);
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      if (code === 'EISDIR' || code === 'EPERM') return; // a "directory" of other objects: no object by this key
      throw new KiteError('IoFailed', `delete of object ${key} failed: ${(e as Error).message}`, { cause: e });
    }
    await this.pruneEmptyDirs(path.dirname(file));
  }

  async deletePrefix(prefix: string): Promise<number> {
    const objects = await this.list(prefix);
    const queue = [...objects];
    await Promise.all(
      Array.from({ length: Math.min(16, queue.length) }, async () => {
        for (let o = queue.pop(); o; o = queue.pop()) await this.delete(o.key);
      }),
    );
    return objects.length;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Removes now-empty directories from `dir` up to (not including) the root. */
  private async pruneEmptyDirs(dir: string): Promise<void> {
    for (let d = dir; d !== this.root && d.startsWith(this.root + path.sep); d = path.dirname(d)) {
      try {
        await fs.promises.rmdir(d);
      } catch {
        return; // not empty (or gone, or recreated by a concurrent put): stop
      }
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new KiteError('ServiceNotReady', 'object store is closed');
  }

  /** The file of a key; refuses keys that are malformed or would leave the store's directory. */
  private pathOf(key: string): string {
    if (typeof key !== 'string' || key.length === 0) {
      throw new KiteError('ParameterInvalid', 'object key must be a non-empty string');
    }
    if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
      throw new KiteError('ParameterInvalid', `object key ${key.slice(0, 64)}... is longer than ${MAX_KEY_BYTES} bytes`);
    }
    if (key.includes('\0')) throw new KiteError('ParameterInvalid', `object key ${JSON.stringify(key)} contains NUL`);
    const parts = key.split('/');
    checkParts(parts, 'object key', key);
    if (parts[0] === TMP_DIR) {
      throw new KiteError('ParameterInvalid', `object key ${key} is invalid: the prefix ${TMP_DIR}/ is reserved`);
    }
    const file = path.join(this.root, ...parts);
    if (!file.startsWith(this.root + path.sep)) {
      throw new KiteError('ParameterInvalid', `object key ${key} is invalid: it leaves the store's directory`);
    }
    return file;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.promises.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
