import { KiteError, toKiteError, type KiteConfig, type Logger } from '@kite/common';
import type { MetaStore, TxnOp, WatchEvent, Watcher } from '@kite/metastore';
import { codecs, keys, type GrantRecord, type PrivilegeGroupRecord, type UserRoleRecord } from '@kite/segment';
import { ROOT_USER } from './parse';
import { ADMIN_ROLE, DEFAULT_DB, METHOD_PRIVILEGES, PUBLIC_GRANTS, PUBLIC_ROLE, grantCovers, objectNamesOf, type ObjectType } from './privileges';

export const BUILTIN_ROLES: readonly string[] = [ADMIN_ROLE, PUBLIC_ROLE];

type Entry =
  | { kind: 'role'; name: string }
  | { kind: 'userRole'; value: UserRoleRecord }
  | { kind: 'grant'; value: GrantRecord }
  | { kind: 'group'; value: PrivilegeGroupRecord };

/**
 * Roles, memberships and grants, and the permission check of every call. The proxy keeps a copy of the meta store's
 * `meta/rbac/` keys, kept current by one watch: a grant or revoke through any proxy reaches every proxy as fast as
 * the watch delivers it (milliseconds), with nothing to expire.
 */
export class Rbac {
  private readonly entries = new Map<string, Entry>();
  private index:
    | { userRoles: Map<string, Set<string>>; roleGrants: Map<string, GrantRecord[]>; roles: Set<string>; groups: Map<string, Set<string>> }
    | undefined;
  private watcher: Watcher | undefined;
  /** Store revision the copy reflects: events at or below it are already in it. */
  private revision = 0;

  constructor(
    private readonly cfg: KiteConfig,
    private readonly store: MetaStore,
    private readonly log: Logger,
  ) {}

  private get root(): string {
    return this.cfg.common.rootPath;
  }

  async start(): Promise<void> {
    const snap = await this.store.getPrefix(keys.rbac(this.root));
    this.reset(snap.kvs, snap.revision);
    this.watcher = await this.store.watchPrefix(keys.rbac(this.root), snap.revision + 1, {
      onEvents: (events) => this.apply(events),
      onResync: (s) => this.reset(s.kvs, s.revision),
      onError: (err) => this.log.error({ err: err.message }, 'permission watch ended'),
    });
  }

  async close(): Promise<void> {
    await this.watcher?.close();
    this.watcher = undefined;
  }

  private reset(kvs: { key: string; value: string }[], revision: number): void {
    if (revision < this.revision) return;
    this.entries.clear();
    this.index = undefined;
    for (const kv of kvs) this.put(kv.key, kv.value);
    this.advance(revision);
  }

  private apply(events: WatchEvent[]): void {
    let rev = this.revision;
    for (const e of events) {
      // Already part of a snapshot this copy was rebuilt from after its own write (see `commit`).
      if ((e.type === 'put' ? e.kv.modRevision : e.modRevision) <= this.revision) continue;
      if (e.type === 'put') {
        this.put(e.kv.key, e.kv.value);
        rev = Math.max(rev, e.kv.modRevision);
      } else {
        this.entries.delete(e.key);
        this.index = undefined;
        rev = Math.max(rev, e.modRevision);
      }
    }
    this.advance(rev);
  }

  private advance(rev: number): void {
    this.revision = Math.max(this.revision, rev);
  }


  private put(key: string, value: string): void {
    this.index = undefined;
    try {
      if (key.startsWith(keys.roles(this.root))) this.entries.set(key, { kind: 'role', name: codecs.role.decode(value, key).name });
      else if (key.startsWith(keys.userRoles(this.root))) this.entries.set(key, { kind: 'userRole', value: codecs.userRole.decode(value, key) });
      else if (key.startsWith(keys.grants(this.root))) this.entries.set(key, { kind: 'grant', value: codecs.grant.decode(value, key) });
      else if (key.startsWith(keys.privilegeGroups(this.root))) this.entries.set(key, { kind: 'group', value: codecs.privilegeGroup.decode(value, key) });
    } catch (e) {
      this.entries.delete(key);
      this.log.warn({ key, err: toKiteError(e).message }, 'ignoring a malformed permission record');
    }
  }

  private view(): NonNullable<Rbac['index']> {
    if (this.index) return this.index;
    const userRoles = new Map<string, Set<string>>();
    const roleGrants = new Map<string, GrantRecord[]>();
    const roles = new Set<string>(BUILTIN_ROLES);
    const groups = new Map<string, Set<string>>();
    for (const e of this.entries.values()) {
      if (e.kind === 'role') roles.add(e.name);
      else if (e.kind === 'group') groups.set(e.value.name, new Set(e.value.privileges));
      else if (e.kind === 'userRole') {
        const set = userRoles.get(e.value.user) ?? new Set<string>();
        set.add(e.value.role);
        userRoles.set(e.value.user, set);
      } else {
        const list = roleGrants.get(e.value.role) ?? [];
        list.push(e.value);
        roleGrants.set(e.value.role, list);
      }
    }
    this.index = { userRoles, roleGrants, roles, groups };
    return this.index;
  }

  roleExists(role: string): boolean {
    return this.view().roles.has(role);
  }

  /** The roles a user was given (public, which every user has, is not listed). */
  rolesOf(user: string): string[] {
    return [...(this.view().userRoles.get(user) ?? [])].sort();
  }

  /** Users given `role`. */
  usersOf(role: string): string[] {
    const out: string[] = [];
    for (const [user, roles] of this.view().userRoles) if (roles.has(role)) out.push(user);
    return out.sort();
  }

  roles(): string[] {
    return [...this.view().roles].sort();
  }

  grantsOf(role: string): GrantRecord[] {
    return [...(this.view().roleGrants.get(role) ?? [])];
  }

  /** Custom privilege groups and their privileges, by name. */
  groups(): Map<string, string[]> {
    return new Map([...this.view().groups].map(([name, set]) => [name, [...set].sort()]));
  }

  groupExists(name: string): boolean {
    return this.view().groups.has(name);
  }

  /**
   * Whether a grant covers the asked privilege: directly (grantCovers), or through a privilege group it names. A
   * group granted on Global `*` (a database or, with db `*`, the cluster) covers every object there; one granted on
   * a collection covers that collection.
   */
  private covers(g: GrantRecord, ask: { objectType: ObjectType; objectName: string; dbName: string; privilege: string }): boolean {
    if (grantCovers(g, ask)) return true;
    if (!this.view().groups.get(g.privilege)?.has(ask.privilege)) return false;
    if (g.dbName !== '*' && g.dbName !== ask.dbName) return false;
    if (g.objectType === 'Global') return true;
    return g.objectType === ask.objectType && (g.objectName === '*' || g.objectName === ask.objectName);
  }

  /** Whether `user` may use `privilege` on the object (root and admin members may do anything). */
  allowed(user: string, ask: { objectType: ObjectType; objectName: string; dbName: string; privilege: string }): boolean {
    if (user === ROOT_USER) return true;
    // A user may always see and change itself (Milvus's rule for User objects).
    if (ask.objectType === 'User' && ask.objectName === user) return true;
    const roles = this.view().userRoles.get(user) ?? new Set<string>();
    if (roles.has(ADMIN_ROLE)) return true;
    if (PUBLIC_GRANTS.some((g) => grantCovers(g, ask))) return true;
    for (const role of [...roles, PUBLIC_ROLE]) {
      if ((this.view().roleGrants.get(role) ?? []).some((g) => this.covers(g, ask))) return true;
    }
    return false;
  }

  /**
   * Throws PrivilegeNotPermitted, with Milvus's message, when `user` lacks the privilege `method` needs on any object
   * the request names. Methods without a privilege (Connect, ShowCollections, HasCollection, ...) are open to every
   * authenticated user, as in Milvus.
   */
  check(user: string, method: string, request: unknown, metadataDb: string | undefined): void {
    const need = METHOD_PRIVILEGES[method];
    if (!need) return;
    const r = (typeof request === 'object' && request !== null ? request : {}) as Record<string, unknown>;
    const dbName = (typeof r.db_name === 'string' && r.db_name !== '' ? r.db_name : undefined) ?? (metadataDb || DEFAULT_DB);
    for (const objectName of objectNamesOf(method, need.object, request)) {
      if (!this.allowed(user, { objectType: need.object, objectName, dbName, privilege: need.privilege })) {
        throw new KiteError('PrivilegeNotPermitted', `Privilege${need.privilege}: permission deny to ${user} in the \`${dbName}\` database`);
      }
    }
  }

  // ---- changes (each one guarded meta-store transaction) ----

  /**
   * Applies `ops` if `compares` hold; then rebuilds this proxy's copy from a fresh listing, so that the caller's next
   * call through this proxy sees its own change whatever the watch's delay (other proxies get it through the watch).
   */
  private async commit(ops: TxnOp[], compares: Parameters<MetaStore['txn']>[0] = []): Promise<boolean> {
    const res = await this.store.txn(compares, ops);
    if (res.succeeded) {
      const snap = await this.store.getPrefix(keys.rbac(this.root));
      this.reset(snap.kvs, snap.revision);
    }
    return res.succeeded;
  }

  async createRole(role: string): Promise<void> {
    if (BUILTIN_ROLES.includes(role)) throw new KiteError('ParameterInvalid', `role ${role} already exists (it is built in)`);
    const key = keys.role(this.root, role);
    const ok = await this.commit([{ type: 'put', key, value: codecs.role.encode({ name: role, createdAt: Date.now() }) }], [{ key, target: 'version', op: '==', value: 0 }]);
    if (!ok) throw new KiteError('ParameterInvalid', `role ${role} already exists`);
  }

  async dropRole(role: string, force: boolean): Promise<void> {
    if (BUILTIN_ROLES.includes(role)) throw new KiteError('PrivilegeNotPermitted', `the built-in role ${role} cannot be dropped`);
    const key = keys.role(this.root, role);
    if (!(await this.store.get(key))) throw new KiteError('ParameterInvalid', `role ${role} does not exist`);
    const grants = (await this.store.getPrefix(keys.grants(this.root, role))).kvs;
    if (grants.length > 0 && !force) {
      throw new KiteError('ParameterInvalid', `role ${role} still has ${grants.length} privilege(s); revoke them first or drop with force_drop`);
    }
    const members = (await this.store.getPrefix(keys.userRoles(this.root))).kvs.filter((kv) => kv.key.endsWith(`/${role}`));
    await this.commit([
      { type: 'delete', key },
      { type: 'deletePrefix', prefix: keys.grants(this.root, role) },
      ...members.map((kv): TxnOp => ({ type: 'delete', key: kv.key })),
    ]);
  }

  async addUserToRole(user: string, role: string): Promise<void> {
    if (!this.roleExists(role) && !(await this.store.get(keys.role(this.root, role)))) throw new KiteError('ParameterInvalid', `role ${role} does not exist; CreateRole creates it`);
    await this.commit([{ type: 'put', key: keys.userRole(this.root, user, role), value: codecs.userRole.encode({ user, role }) }]);
  }

  async removeUserFromRole(user: string, role: string): Promise<void> {
    await this.commit([{ type: 'delete', key: keys.userRole(this.root, user, role) }]);
  }

  /** Drops a deleted user's memberships. */
  async forgetUser(user: string): Promise<void> {
    await this.commit([{ type: 'deletePrefix', prefix: keys.userRoles(this.root, user) }]);
  }

  async grant(g: GrantRecord): Promise<void> {
    if (g.role !== PUBLIC_ROLE && g.role !== ADMIN_ROLE && !(await this.store.get(keys.role(this.root, g.role)))) {
      throw new KiteError('ParameterInvalid', `role ${g.role} does not exist; CreateRole creates it`);
    }
    await this.commit([{ type: 'put', key: keys.grant(this.root, g), value: codecs.grant.encode(g) }]);
  }

  async createGroup(name: string): Promise<void> {
    const key = keys.privilegeGroup(this.root, name);
    const ok = await this.commit([{ type: 'put', key, value: codecs.privilegeGroup.encode({ name, privileges: [] }) }], [{ key, target: 'version', op: '==', value: 0 }]);
    if (!ok) throw new KiteError('ParameterInvalid', `privilege group ${name} already exists`);
  }

  async dropGroup(name: string): Promise<void> {
    const grants = (await this.store.getPrefix(keys.grants(this.root))).kvs.filter((kv) => kv.key.endsWith(`/${name}`));
    if (grants.length > 0) throw new KiteError('ParameterInvalid', `privilege group ${name} is granted to a role (${grants.length} grant(s)); revoke it first`);
    await this.commit([{ type: 'delete', key: keys.privilegeGroup(this.root, name) }]);
  }

  /** Adds or removes privileges of a group, guarded by the record read so that concurrent changes do not interleave. */
  async changeGroup(name: string, privileges: string[], add: boolean): Promise<void> {
    const key = keys.privilegeGroup(this.root, name);
    const kv = await this.store.get(key);
    if (!kv) throw new KiteError('ParameterInvalid', `privilege group ${name} does not exist; CreatePrivilegeGroup creates it`);
    const current = new Set(codecs.privilegeGroup.decode(kv.value, key).privileges);
    for (const p of privileges) {
      if (add) current.add(p);
      else current.delete(p);
    }
    const ok = await this.commit(
      [{ type: 'put', key, value: codecs.privilegeGroup.encode({ name, privileges: [...current].sort() }) }],
      [{ key, target: 'modRevision', op: '==', value: kv.modRevision }],
    );
    if (!ok) throw new KiteError('MetaFailed', `privilege group ${name} changed meanwhile; try again`, { retriable: true });
  }

  async revoke(g: Omit<GrantRecord, 'grantor'>): Promise<void> {
    await this.commit([{ type: 'delete', key: keys.grant(this.root, g) }]);
  }
}
