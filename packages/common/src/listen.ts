/**
 * Listen failures of Kite's servers (gRPC and HTTP) as one KiteError shape, so that start-up can tell them from
 * other failures and name the setting that moves the port.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { KiteError } from './errors';

/** What the common listen errors mean, in words an operator acts on. */
const REASONS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'the address is not one of this machine\'s',
  ENOTFOUND: 'the host name does not resolve',
};

/** Codes that point at the host rather than the port. */
export const HOST_ERRNOS: ReadonlySet<string> = new Set(['EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * The errno name (EADDRINUSE, EACCES, ...) of a failed listen: Node's `code`, or the first one in the message
 * (grpc-js reports a bind failure only as text: "... errors: [listen EADDRINUSE: address already in use ...]").
 */
export function errnoOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return code;
  const text = e instanceof Error ? e.message : String(e);
  return /\b(E[A-Z]{2,}(?:_[A-Z]+)*)\b/.exec(text)?.[1];
}

/** A `ListenFailed` error naming `host:port` and the reason; the original error is its cause. */
export function listenFailed(host: string, port: number, cause: unknown): KiteError {
  const errno = errnoOf(cause);
  const reason = errno
    ? `${REASONS[errno] ?? (cause instanceof Error ? cause.message : String(cause))} (${errno})`
    : cause instanceof Error ? cause.message : String(cause);
  return new KiteError('ListenFailed', `cannot listen on ${host}:${port}: ${reason}`, { cause });
}

/** Lowest port of the kernel's ephemeral range (Linux's ip_local_port_range; 32768, its default, elsewhere). */
function ephemeralLow(): number {
  try {
    const low = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 2048 ? low : 32768;
  } catch {
    return 32768;
  }
}

function bindable(port: number, host: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.unref();
    s.once('error', () => resolve(undefined));
    s.listen(port, host, () => {
      const got = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(got));
    });
  });
}

/**
 * A TCP port that was free on `host` a moment ago, for a server started next (local clusters, tests). It is taken
 * below the kernel's ephemeral range: a port the kernel picks for listen(0) lies inside it, where any outgoing
 * connection made before the server listens (a Kafka, etcd or gRPC client of another process) may be given it as its
 * source port, and the listen then fails with EADDRINUSE. Random within the 12,000 ports below the range, each
 * checked by binding it; a kernel-picked port when 50 picks were all taken.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const high = ephemeralLow();
  const low = Math.max(1025, high - 12_000);
  for (let i = 0; i < 50; i++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if ((await bindable(port, host)) !== undefined) return port;
  }
  const any = await bindable(0, host);
  if (any === undefined) throw new KiteError('ListenFailed', `no free TCP port on ${host}`);
  return any;
}
