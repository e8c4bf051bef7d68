import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A port that was free on 127.0.0.1 a moment ago, below the kernel's ephemeral range (see @kite/common). */
export { freePort } from '@kite/common';

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function canConnect(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `check` until it returns true. Throws after `timeoutMs`, or as soon as `abort` returns a reason (e.g. the
 * server process exited).
 */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  options: { timeoutMs: number; intervalMs?: number; abort?: () => string | undefined },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const reason = options.abort?.();
    if (reason) throw new Error(`${what}: ${reason}`);
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${options.timeoutMs} ms`);
    await sleep(options.intervalMs ?? 50);
  }
}

/** The repository root (the folder with pnpm-workspace.yaml), found from this file's location. */
export function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'pnpm-workspace.yaml'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no pnpm-workspace.yaml above ${__dirname}`);
    dir = parent;
  }
}

/** A fresh temporary directory for a server's data and logs. */
export function makeTempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `kite-${prefix}-`));
}

/** Removes a temporary directory unless KITE_KEEP_TEST_DATA is set (to read the server logs after a failure). */
export function removeTempDir(dir: string): void {
  if (process.env.KITE_KEEP_TEST_DATA) return;
  fs.rmSync(dir, { recursive: true, force: true });
}

/** The last `bytes` of a file ('' when it cannot be read), for error messages that quote a log. */
export function fileTail(file: string, bytes: number): string {
  try {
    const size = fs.statSync(file).size;
    const fd = fs.openSync(file, 'r');
    try {
      const length = Math.min(bytes, size);
      const buf = Buffer.alloc(length);
      fs.readSync(fd, buf, 0, length, size - length);
      return buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}
