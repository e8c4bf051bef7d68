import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { KiteError } from '@kite/common';
import type { ObjectInfo, ObjectStore } from './types';

/** Objects as files under a directory; puts are atomic (temp file, fsync, rename). */
export class LocalObjectStore implements ObjectStore {
  private constructor(private readonly dir: string) {}

  static async open(dir: string): Promise<LocalObjectStore> {
    await fs.mkdir(dir, { recursive: true });
    return new LocalObjectStore(path.resolve(dir));
  }

  private file(key: string): string {
    const p = path.resolve(this.dir, key);
    if (!key || (p !== this.dir && !p.startsWith(this.dir + path.sep)) || key.split('/').includes('..')) {
      throw new KiteError('ParameterInvalid', `object key "${key}" escapes the store`);
    }
    return p;
  }

  async put(key: string, data: Buffer): Promise<void> {
    const p = this.file(key);
    await fs.mkdir(path.dirname(p), { recursive: true });
    const tmp = `${p}.tmp-${randomBytes(6).toString('hex')}`;
    const fh = await fs.open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, p);
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await fs.readFile(this.file(key));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new KiteError('IoFailed', `object ${key} not found`, { retriable: false });
      throw new KiteError('IoFailed', `object ${key} cannot be read: ${(e as Error).message}`, { cause: e });
    }
  }

  async exists(key: string): Promise<boolean> {
    return fs.stat(this.file(key)).then(() => true, () => false);
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    const walk = async (dir: string, rel: string): Promise<void> => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const key = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) await walk(path.join(dir, e.name), key);
        else if (!e.name.includes('.tmp-') && key.startsWith(prefix)) out.push({ key, size: (await fs.stat(path.join(dir, e.name))).size });
      }
    };
    await walk(this.dir, '');
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.file(key), { force: true });
  }

  async deletePrefix(prefix: string): Promise<number> {
    const all = await this.list(prefix);
    await Promise.all(all.map((o) => this.delete(o.key)));
    return all.length;
  }

  async close(): Promise<void> {}
}
