import { createHash, timingSafeEqual } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import bcrypt from 'bcryptjs';
import { KiteError, toKiteError, type KiteConfig, type Logger } from '@kite/common';
import type { MetaStore, WatchEvent, Watcher } from '@kite/metastore';
import { codecs, keys, userOfCredentialKey, type CredentialRecord } from '@kite/segment';
import { LoginLimiter, MAX_USERNAME_LENGTH, ROOT_USER, parseAuthorization, peerHost } from './parse';
import { Rbac } from './rbac';

/** Methods any client may call without credentials (Milvus lets SDKs probe a server before logging in). */
export const OPEN_METHODS: ReadonlySet<string> = new Set(['GetVersion', 'CheckHealth', 'Connect']);

/** Milvus's answer to missing or wrong credentials (its proxy answers gRPC UNAUTHENTICATED with these messages). */
export const AUTH_FAILED = 'auth check failure, please check username and password are correct';
export const AUTH_MISSING = 'missing authorization in header';

/** checkUsername's rule as one expression, to skip lookups of impossible names. */
const VALID_USERNAME = new RegExp(`^[A-Za-z_][A-Za-z0-9_]{0,${MAX_USERNAME_LENGTH - 1}}$`);

const digest = (password: string): Buffer => createHash('sha256').update(password, 'utf8').digest();

/**
 * Users and their password hashes, kept by one proxy: a copy of the meta store's credential keys kept current by a
 * watch (a user deleted or a password changed through any proxy applies here within the watch's delay), the
 * passwords this proxy has verified (as SHA-256 digests, so that only the first call of a user pays for bcrypt), and
 * the failed-login limiter.
 */
export class Security {
  private readonly users = new Map<string, CredentialRecord>();
  /** user -> the stored hash it was verified against and the digest of the password that matched it. */
  private readonly verified = new Map<string, { hash: string; digest: Buffer }>();
  private readonly limiter: LoginLimiter;
  /** The login attempt in progress per user and client address (attempts of one pair run one after another). */
  private readonly attempts = new Map<string, Promise<void>>();
  private watcher: Watcher | undefined;
  /** Which user each authenticated call's metadata belongs to (for handlers that depend on the caller). */
  private readonly callers = new WeakMap<grpc.Metadata, string>();
  /** Roles, grants and the permission check. */
  readonly rbac: Rbac;

  constructor(
    private readonly cfg: KiteConfig,
    private readonly store: MetaStore,
    private readonly log: Logger,
  ) {
    this.rbac = new Rbac(cfg, store, log);
    this.limiter = new LoginLimiter(cfg.security.maxLoginFailures, cfg.security.loginFailureWindowMs);
  }

  get enabled(): boolean {
    return this.cfg.security.authorizationEnabled;
  }

  private get root(): string {
    return this.cfg.common.rootPath;
  }

  /** Creates root on the cluster's first start, then loads the users and watches for changes. */
  async start(): Promise<void> {
    await this.ensureRoot();
    const snap = await this.store.getPrefix(keys.credentials(this.root));
    this.reset(snap.kvs);
    this.watcher = await this.store.watchPrefix(keys.credentials(this.root), snap.revision + 1, {
      onEvents: (events) => this.apply(events),
      onResync: (s) => this.reset(s.kvs),
      onError: (err) => this.log.error({ err: err.message }, 'credential watch ended'),
    });
    await this.rbac.start();
  }

  async close(): Promise<void> {
    await this.rbac.close();
    await this.watcher?.close();
    this.watcher = undefined;
  }

  private async ensureRoot(): Promise<void> {
    const key = keys.credential(this.root, ROOT_USER);
    if (await this.store.get(key)) return;
    const now = Date.now();
    const record: CredentialRecord = { username: ROOT_USER, passwordHash: await this.hash(this.cfg.security.defaultRootPassword), createdAt: now, updatedAt: now };
    // Several proxies may start at once: the first write wins, the others keep it.
    await this.store.txn([{ key, target: 'version', op: '==', value: 0 }], [{ type: 'put', key, value: codecs.credential.encode(record) }]);
  }

  private reset(kvs: { key: string; value: string }[]): void {
    this.users.clear();
    for (const kv of kvs) this.put(kv.key, kv.value);
  }

  private apply(events: WatchEvent[]): void {
    for (const e of events) {
      if (e.type === 'put') this.put(e.kv.key, e.kv.value);
      else this.users.delete(this.userOf(e.key) ?? '');
    }
  }

  private userOf(key: string): string | undefined {
    try {
      return userOfCredentialKey(this.root, key);
    } catch (e) {
      this.log.warn({ key, err: toKiteError(e).message }, 'ignoring a malformed credential key');
      return undefined;
    }
  }

  private put(key: string, value: string): void {
    const user = this.userOf(key);
    if (user === undefined) return;
    try {
      this.users.set(user, codecs.credential.decode(value, key));
    } catch (e) {
      this.users.delete(user);
      this.log.warn({ key, err: toKiteError(e).message }, 'ignoring a malformed credential');
    }
  }

  hash(password: string): Promise<string> {
    return bcrypt.hash(password, this.cfg.security.passwordHashCost);
  }

  /** The stored credential of `user`: this proxy's copy, or the store's when the copy does not have it yet. */
  async record(user: string): Promise<CredentialRecord | undefined> {
    // A name no user can have is not looked up (it would only cost a meta-store read).
    if (!VALID_USERNAME.test(user)) return undefined;
    const known = this.users.get(user);
    if (known) return known;
    const key = keys.credential(this.root, user);
    const kv = await this.store.get(key);
    return kv ? codecs.credential.decode(kv.value, key) : undefined;
  }

  /** Whether `password` is `user`'s password this proxy already verified (no bcrypt, no store read). */
  private known(user: string, password: string): boolean {
    const rec = this.users.get(user);
    const seen = this.verified.get(user);
    return !!rec && !!seen && seen.hash === rec.passwordHash && timingSafeEqual(seen.digest, digest(password));
  }

  /** Whether `password` is `user`'s. */
  async verify(user: string, password: string): Promise<boolean> {
    const rec = await this.record(user);
    if (!rec) return false;
    if (this.known(user, password)) return true;
    const d = digest(password);
    const ok = await bcrypt.compare(password, rec.passwordHash);
    if (ok) this.verified.set(user, { hash: rec.passwordHash, digest: d });
    return ok;
  }

  /**
   * Checks the call's credentials when authorization is on: throws NotAuthenticated when they are missing (except
   * on OPEN_METHODS), malformed or wrong, or when the user is locked out after too many failures from this address.
   * Returns the user (undefined when authorization is off, or an open method was called without credentials).
   */
  async authenticate(method: string, metadata: grpc.Metadata, peer: string): Promise<string | undefined> {
    if (!this.enabled) return undefined;
    const values = metadata.get('authorization');
    if (values.length === 0) {
      if (OPEN_METHODS.has(method)) return undefined;
      throw new KiteError('NotAuthenticated', AUTH_MISSING);
    }
    const cred = parseAuthorization(values[0]);
    if (!cred) throw new KiteError('NotAuthenticated', 'invalid token format: the authorization metadata must be base64 of "user:password"');
    const source = peerHost(peer);
    if (this.limiter.blockedForMs(cred.user, source) === 0 && this.known(cred.user, cred.password)) {
      this.callers.set(metadata, cred.user);
      return cred.user;
    }
    // One attempt at a time per user and address: parallel guesses each see the failures recorded before them.
    const key = `${cred.user}\u0000${source}`;
    const previous = this.attempts.get(key) ?? Promise.resolve();
    const mine = previous.then(() => this.attempt(cred.user, cred.password, source, method));
    const tail = mine.then(
      () => undefined,
      () => undefined,
    );
    this.attempts.set(key, tail);
    try {
      await mine;
    } finally {
      if (this.attempts.get(key) === tail) this.attempts.delete(key);
    }
    this.callers.set(metadata, cred.user);
    return cred.user;
  }

  /** The authenticated user of a call (undefined when authorization is off). */
  callerOf(metadata: grpc.Metadata): string | undefined {
    return this.callers.get(metadata);
  }

  private async attempt(user: string, password: string, source: string, method: string): Promise<void> {
    const waitMs = this.limiter.blockedForMs(user, source);
    if (waitMs > 0) {
      throw new KiteError('NotAuthenticated', `too many failed logins for user ${user} from ${source}; try again in ${Math.ceil(waitMs / 1000)} s`);
    }
    if (!(await this.verify(user, password))) {
      this.limiter.fail(user, source);
      this.log.warn({ user, source, method }, 'login failed');
      throw new KiteError('NotAuthenticated', AUTH_FAILED);
    }
    this.limiter.succeed(user, source);
  }

  /** Users in the store, sorted. */
  async listUsers(): Promise<string[]> {
    const snap = await this.store.getPrefix(keys.credentials(this.root));
    return snap.kvs.map((kv) => this.userOf(kv.key)).filter((u): u is string => u !== undefined).sort();
  }

  /** Creates a user; refuses a name already taken. */
  async create(user: string, password: string): Promise<void> {
    const key = keys.credential(this.root, user);
    const now = Date.now();
    const record: CredentialRecord = { username: user, passwordHash: await this.hash(password), createdAt: now, updatedAt: now };
    const res = await this.store.txn([{ key, target: 'version', op: '==', value: 0 }], [{ type: 'put', key, value: codecs.credential.encode(record) }]);
    if (!res.succeeded) throw new KiteError('ParameterInvalid', `user ${user} already exists; choose another name or UpdateCredential to change its password`);
  }

  /** Sets a user's password, guarded by the record read so that two concurrent changes do not interleave. */
  async update(user: string, password: string): Promise<void> {
    const key = keys.credential(this.root, user);
    const kv = await this.store.get(key);
    if (!kv) throw new KiteError('ParameterInvalid', `user ${user} does not exist; CreateCredential creates it`);
    const old = codecs.credential.decode(kv.value, key);
    const record: CredentialRecord = { ...old, passwordHash: await this.hash(password), updatedAt: Date.now() };
    const res = await this.store.txn([{ key, target: 'modRevision', op: '==', value: kv.modRevision }], [{ type: 'put', key, value: codecs.credential.encode(record) }]);
    if (!res.succeeded) throw new KiteError('MetaFailed', `the password of ${user} changed meanwhile; try again`, { retriable: true });
  }

  /** Deletes a user and its role memberships; true when it existed. */
  async remove(user: string): Promise<boolean> {
    const existed = await this.store.delete(keys.credential(this.root, user));
    await this.rbac.forgetUser(user);
    return existed;
  }

  /** Throws PrivilegeNotPermitted when the call's user may not make it (nothing when authorization is off). */
  authorize(user: string | undefined, method: string, request: unknown, metadata: grpc.Metadata): void {
    if (!this.enabled || user === undefined) return;
    const db = metadata.get('dbname')[0];
    this.rbac.check(user, method, request, typeof db === 'string' ? db : undefined);
  }
}
