import { KiteError, clip } from '@kite/common';

/** Milvus's bounds on a password (characters). */
export const MIN_PASSWORD_LENGTH = 6;
export const MAX_PASSWORD_LENGTH = 256;
/** Milvus's bound on a user name. */
export const MAX_USERNAME_LENGTH = 32;

/** The root user: created at first start, cannot be deleted, may change any password. */
export const ROOT_USER = 'root';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes strict base64 (what both SDKs send), or undefined when `text` is not base64. */
export function decodeBase64(text: string): string | undefined {
  const t = text.trim();
  if (t.length % 4 !== 0 || !BASE64.test(t)) return undefined;
  return Buffer.from(t, 'base64').toString('utf8');
}

/**
 * The user and password of an `authorization` metadata value: base64 of `user:password` (the SDKs send a token
 * `user:password` base64-encoded the same way). Undefined when the value is not of that form.
 */
export function parseAuthorization(value: string | Buffer | undefined): { user: string; password: string } | undefined {
  if (value === undefined) return undefined;
  const raw = decodeBase64(typeof value === 'string' ? value : value.toString('utf8'));
  if (raw === undefined) return undefined;
  const colon = raw.indexOf(':');
  if (colon <= 0) return undefined;
  return { user: raw.slice(0, colon), password: raw.slice(colon + 1) };
}

/** Milvus's rule for user names: a letter or underscore first, then letters, digits and underscores, at most 32. */
export function checkUsername(name: string, field = 'username'): void {
  if (name === '') throw new KiteError('ParameterInvalid', `${field} is empty; give a name`);
  if (name.length > MAX_USERNAME_LENGTH) {
    throw new KiteError('ParameterInvalid', `${field} "${clip(name, 64)}" is longer than ${MAX_USERNAME_LENGTH} characters; use a shorter name`);
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new KiteError('ParameterInvalid', `${field} "${clip(name, 64)}" is not valid: start with a letter or underscore and use only letters, digits and underscores`);
  }
}

/** A password field of a credential request: base64 of the password, 6 to 256 characters once decoded. */
export function decodePassword(encoded: string, field: string): string {
  const pw = decodeBase64(encoded);
  if (pw === undefined) throw new KiteError('ParameterInvalid', `${field} is not base64; send the password base64-encoded, as the SDKs do`);
  if (pw.length < MIN_PASSWORD_LENGTH || pw.length > MAX_PASSWORD_LENGTH) {
    throw new KiteError('ParameterInvalid', `${field} must be ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters long (it has ${pw.length})`);
  }
  return pw;
}

/** The client address of a gRPC peer string ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000"), without the port. */
export function peerHost(peer: string): string {
  const body = peer.replace(/^(ipv4|ipv6|unix):/, '');
  const v6 = /^\[([^\]]*)\]/.exec(body);
  if (v6) return v6[1] ?? body;
  const colon = body.lastIndexOf(':');
  return colon > 0 && /^\d+$/.test(body.slice(colon + 1)) ? body.slice(0, colon) : body;
}

/** Most (user, address) pairs the limiter tracks; beyond it the pairs failed longest ago are forgotten. */
const MAX_TRACKED_PAIRS = 100_000;

/**
 * Failed logins per (user, client address) within a sliding window: after `max` failures the pair is refused until
 * the oldest counted failure leaves the window. Entries are dropped once their window has passed, and at most
 * MAX_TRACKED_PAIRS are kept (a flood of made-up names cannot grow it without bound).
 */
export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
  ) {}

  private recent(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((t) => now - t < this.windowMs);
    if (list.length === 0) this.failures.delete(key);
    else this.failures.set(key, list);
    return list;
  }

  /** Milliseconds until the pair may try again; 0 when it may now. */
  blockedForMs(user: string, source: string, now = Date.now()): number {
    const list = this.recent(`${user}\u0000${source}`, now);
    if (list.length < this.max) return 0;
    return (list[list.length - this.max] ?? now) + this.windowMs - now;
  }

  fail(user: string, source: string, now = Date.now()): void {
    const key = `${user}\u0000${source}`;
    const list = this.recent(key, now);
    list.push(now);
    // Re-inserted last: the Map's order is then the order of the latest failure of each pair.
    this.failures.delete(key);
    this.failures.set(key, list);
    if (this.failures.size > MAX_TRACKED_PAIRS) this.sweep(now);
    for (const oldest of this.failures.keys()) {
      if (this.failures.size <= MAX_TRACKED_PAIRS) break;
      this.failures.delete(oldest);
    }
  }

  /** A successful login clears the pair's count. */
  succeed(user: string, source: string): void {
    this.failures.delete(`${user}\u0000${source}`);
  }

  private sweep(now: number): void {
    for (const key of [...this.failures.keys()]) this.recent(key, now);
  }
}
