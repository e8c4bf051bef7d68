/**
 * Listen failures of Kite's servers (gRPC and HTTP) as one KiteError shape, so that start-up can tell them from
 * other failures and name the setting that moves the port.
 */
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
