/** Whole vectored writes for the embedded WAL (the lock, atomic replacement and CRC32 are in @kite/common). */
import type * as fs from 'node:fs';
import { writeAll } from '@kite/common';

/** Writes buffers in order at the file's append position, finishing a short write. */
export async function writevAll(fh: fs.promises.FileHandle, buffers: Buffer[]): Promise<number> {
  const total = buffers.reduce((n, b) => n + b.length, 0);
  const { bytesWritten } = await fh.writev(buffers);
  if (bytesWritten < total) await writeAll(fh, Buffer.concat(buffers).subarray(bytesWritten));
  return total;
}
