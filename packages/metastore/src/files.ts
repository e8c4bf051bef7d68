/**
 * File helpers for the embedded store: CRC-framed records, a directory lock, atomic file replacement.
 * A frame is `u32 length | u32 crc32(payload) | payload` (little endian). A frame whose length runs past the end of
 * the file, or whose checksum does not match, marks a torn tail: everything from it on is dropped on open.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { KiteError } from '@kite/common';

export const FRAME_HEADER_BYTES = 8;
/** A frame longer than this is treated as corruption, not as a record to allocate for. */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024;

export function crc32(data: Uint8Array): number {
  return zlib.crc32(data) >>> 0;
}

export function encodeFrame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt32LE(crc32(payload), 4);
  payload.copy(out, FRAME_HEADER_BYTES);
  return out;
}

export interface ScannedFrames {
  payloads: Buffer[];
  /** Bytes from the start of the buffer that hold whole, valid frames. */
  validBytes: number;
  /** Why scanning stopped before the end of the buffer, if it did. */
  tornReason?: string;
}

/** Splits a buffer into frame payloads, stopping at the first torn or corrupt frame. */
export function scanFrames(buf: Buffer): ScannedFrames {
  const payloads: Buffer[] = [];
  let pos = 0;
  while (pos < buf.length) {
    if (buf.length - pos < FRAME_HEADER_BYTES) {
      return { payloads, validBytes: pos, tornReason: `partial frame header at byte ${pos}` };
    }
    const len = buf.readUInt32LE(pos);
    const crc = buf.readUInt32LE(pos + 4);
    if (len === 0 || len > MAX_FRAME_BYTES) {
      return { payloads, validBytes: pos, tornReason: `bad frame length ${len} at byte ${pos}` };
    }
    if (pos + FRAME_HEADER_BYTES + len > buf.length) {
      return { payloads, validBytes: pos, tornReason: `frame at byte ${pos} runs past the end of the file` };
    }
    const payload = buf.subarray(pos + FRAME_HEADER_BYTES, pos + FRAME_HEADER_BYTES + len);
    if (crc32(payload) !== crc) {
      return { payloads, validBytes: pos, tornReason: `checksum mismatch in frame at byte ${pos}` };
    }
    payloads.push(payload);
    pos += FRAME_HEADER_BYTES + len;
  }
  return { payloads, validBytes: pos };
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

/** Writes a whole buffer at the file's current append position. */
export async function writeAll(fh: fs.promises.FileHandle, data: Buffer): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off);
    off += bytesWritten;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes `<dir>/LOCK` for this process so that two stores never write one directory. A lock left by a process that
 * no longer runs (killed) is taken over. Returns the release function.
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
    const owner = Number((await fs.promises.readFile(file, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(owner) && owner > 0 && processAlive(owner)) {
      throw new KiteError(
        'IoFailed',
        `${what} directory ${dir} is in use by process ${owner}${owner === process.pid ? ' (this process)' : ''}: ` +
          'close the other store or use another directory',
        { retriable: false },
      );
    }
    await fs.promises.rm(file, { force: true });
  }
  throw new KiteError('IoFailed', `could not lock ${what} directory ${dir}: remove ${file} if no process uses it`);
}
