/**
 * File helpers shared by the embedded stores (meta store, WAL, local object store): a directory lock, atomic file
 * replacement, whole writes, CRC32, and whether a pid still runs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { KiteError } from './errors';

export function crc32(data: Uint8Array, value = 0): number {
  return zlib.crc32(data, value) >>> 0;
}

/** Whether a process with this pid runs (one we may not signal counts as running). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** fsyncs a directory so that file creations, renames and deletions in it are durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.promises.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes a file so that readers (and a restart) see the old content or the whole new content, never a mix. */
export async function writeFileAtomic(file: string, data: Buffer): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  const fh = await fs.promises.open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, file);
  await fsyncDir(path.dirname(file));
}

/** Writes a whole buffer at the file's current append position, finishing short writes. */
export async function writeAll(fh: fs.promises.FileHandle, data: Buffer): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off);
    off += bytesWritten;
  }
}

/** The pid in `<dir>/LOCK` if that process still runs; undefined when the directory is not locked (or stale). */
export async function lockHolder(dir: string): Promise<number | undefined> {
  const owner = Number((await fs.promises.readFile(path.join(dir, 'LOCK'), 'utf8').catch(() => '')).trim());
  return Number.isInteger(owner) && owner > 0 && processAlive(owner) ? owner : undefined;
}

/**
 * Takes `<dir>/LOCK` for this process so that two stores never write one directory. A lock left by a process that
 * no longer runs (killed) is taken over. Returns the release function; a live holder is a `DirectoryLocked` error
 * naming the directory and its pid.
 */
export async function lockDir(dir: string, what: string): Promise<() => Promise<void>> {
  const file = path.join(dir, 'LOCK');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await fs.promises.open(file, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      return async () => {
        await fs.promises.rm(file, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = await lockHolder(dir);
    if (owner !== undefined) {
      throw new KiteError(
        'DirectoryLocked',
        `${what} directory ${dir} is in use by process ${owner}${owner === process.pid ? ' (this process)' : ''}: ` +
          'close the other store or use another directory',
        { retriable: false },
      );
    }
    await fs.promises.rm(file, { force: true });
  }
  throw new KiteError('IoFailed', `could not lock ${what} directory ${dir}: remove ${file} if no process uses it`);
}
