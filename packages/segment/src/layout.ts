import { KiteError } from '@kite/common';
import type { CompactionPlanRecord, CompactionRecord } from './compaction';
import type { ImportTaskRecord } from './import';
import { DEFAULT_DB, type ChannelCheckpoint, type CollectionMeta, type SegmentMeta } from './meta';

/**
 * The cluster's layout in the meta store: every key Kite reads or writes, the parsers of the keys whose ids or names
 * are read back (`idAfter`, `segmentKeyIds`, `aliasOfKey`), and the codec of every value. Nothing else builds or
 * parses a key string or parses a value by hand, so a key written by one process is the key another reads.
 *
 * ```
 * <root>/session/querycoord             the active coordinator (exclusive, leased)   ActiveCoordinator
 * <root>/session/<role>-<serverID>      each process's session (leased)              SessionRecord
 * <root>/meta/server-id                 serverID counter (compare-and-swap)           decimal
 * <root>/meta/collection/<id>           collection schema, indexes, load state        CollectionMeta
 * <root>/meta/database/<name>          a database (not "default" unless altered)     DatabaseRecord
 * <root>/meta/alias/<alias>             alias in database "default" -> collection name text
 * <root>/meta/alias/<db>/<alias>        alias in another database -> collection name  text
 * <root>/meta/segment/<coll>/<seg>      a flushed or dropped segment                   SegmentMeta
 * <root>/meta/checkpoint/<coll>/<ch>    a channel's durable WAL position               ChannelCheckpoint
 * <root>/meta/import/<task>             a bulk import task                             ImportTaskRecord
 * <root>/meta/replica/<coll>            replica groups of a loaded collection          ReplicaRecord[]
 * <root>/meta/id-allocator, /meta/tso   allocator high-water marks                     decimal
 * <root>/leaders/<coll>                 shard leaders published for proxies            PublishedReplica[]
 * ```
 */

export type Role = 'proxy' | 'querycoord' | 'querynode' | 'datanode';

/** The value of a session key. */
export interface SessionRecord {
  serverID: number;
  role: Role;
  address: string;
  metricsAddress: string;
  version: string;
  startedAt: number;
  stopping: boolean;
}

/** The value of the active coordinator's exclusive key. */
export interface ActiveCoordinator {
  serverID: number;
  address: string;
  version: string;
  startedAt: number;
}

/** A database: its id, creation timestamp and properties. */
export interface DatabaseRecord {
  name: string;
  id: number;
  createdTs: string;
  properties: Record<string, string>;
}

/** An alias key's database and alias. */
export interface AliasRef {
  db: string;
  alias: string;
}

/** A replica group of a loaded collection: the query nodes that serve one full copy. */
export interface ReplicaRecord {
  replicaID: number;
  nodes: number[];
}

/** One shard's leader (the delegator that serves the channel) as published for proxies. */
export interface PublishedShard {
  channel: string;
  node_id: number;
  address: string;
  serviceable: boolean;
}

/** A replica's shard leaders as published for proxies under `<root>/leaders/<collection>`. */
export interface PublishedReplica {
  replica_id: number;
  node_ids: number[];
  shards: PublishedShard[];
}

const under = (root: string, rest: string): string => `${root}/${rest}`;

export const keys = {
  collection: (root: string, id: number) => under(root, `meta/collection/${id}`),
  collections: (root: string) => under(root, 'meta/collection/'),
  /**
   * An alias, scoped by database. Aliases of "default" keep the key they had before databases existed, so stored
   * aliases stay readable; an alias name never holds '/', so the two forms cannot collide.
   */
  alias: (root: string, alias: string, db: string = DEFAULT_DB) => under(root, db === DEFAULT_DB ? `meta/alias/${alias}` : `meta/alias/${db}/${alias}`),
  aliases: (root: string) => under(root, 'meta/alias/'),
  database: (root: string, name: string) => under(root, `meta/database/${name}`),
  databases: (root: string) => under(root, 'meta/database/'),
  segment: (root: string, coll: number, seg: number) => under(root, `meta/segment/${coll}/${seg}`),
  segments: (root: string, coll?: number) => under(root, `meta/segment/${coll === undefined ? '' : `${coll}/`}`),
  checkpoint: (root: string, coll: number, channel: string) => under(root, `meta/checkpoint/${coll}/${channel}`),
  checkpoints: (root: string, coll?: number) => under(root, `meta/checkpoint/${coll === undefined ? '' : `${coll}/`}`),
  /** A compaction (manual or automatic) and its plans, one key each (`CompactionRecord`, `CompactionPlanRecord`). */
  compaction: (root: string, id: number) => under(root, `meta/compaction/${id}`),
  compactions: (root: string) => under(root, 'meta/compaction/'),
  compactionPlan: (root: string, compactionID: number, planID: number) => under(root, `meta/compaction-plan/${compactionID}/${planID}`),
  compactionPlans: (root: string, compactionID?: number) => under(root, `meta/compaction-plan/${compactionID === undefined ? '' : `${compactionID}/`}`),
  /** A bulk import task (`ImportTaskRecord`). */
  importTask: (root: string, id: number) => under(root, `meta/import/${id}`),
  importTasks: (root: string) => under(root, 'meta/import/'),
  replica: (root: string, coll: number) => under(root, `meta/replica/${coll}`),
  replicas: (root: string) => under(root, 'meta/replica/'),
  idAllocator: (root: string) => under(root, 'meta/id-allocator'),
  tso: (root: string) => under(root, 'meta/tso'),
  serverIdCounter: (root: string) => under(root, 'meta/server-id'),
  sessions: (root: string) => under(root, 'session/'),
  /** A process's own session (every coordinator process has one too, active or standing by). */
  session: (root: string, role: Role, serverID: number) => under(root, `session/${role}-${serverID}`),
  roleSessions: (root: string, role: Role) => under(root, `session/${role}-`),
  /** The exclusive key of the active coordinator. */
  coordinatorSession: (root: string) => under(root, 'session/querycoord'),
  /** A user's stored credential (`CredentialRecord`); user names are checked to hold no `/`. */
  credential: (root: string, user: string) => under(root, `meta/credential/${user}`),
  credentials: (root: string) => under(root, 'meta/credential/'),
  /** Roles, user-role bindings and grants, all under one prefix so that one watch keeps a permission cache current. */
  rbac: (root: string) => under(root, 'meta/rbac/'),
  role: (root: string, role: string) => under(root, `meta/rbac/role/${role}`),
  roles: (root: string) => under(root, 'meta/rbac/role/'),
  userRole: (root: string, user: string, role: string) => under(root, `meta/rbac/user-role/${user}/${role}`),
  userRoles: (root: string, user?: string) => under(root, `meta/rbac/user-role/${user === undefined ? '' : `${user}/`}`),
  grant: (root: string, g: Pick<GrantRecord, 'role' | 'objectType' | 'dbName' | 'objectName' | 'privilege'>) =>
    under(root, `meta/rbac/grant/${g.role}/${g.objectType}/${g.dbName}/${g.objectName}/${g.privilege}`),
  privilegeGroup: (root: string, name: string) => under(root, `meta/rbac/privilege-group/${name}`),
  privilegeGroups: (root: string) => under(root, 'meta/rbac/privilege-group/'),
  grants: (root: string, role?: string) => under(root, `meta/rbac/grant/${role === undefined ? '' : `${role}/`}`),
  leaders: (root: string, coll: number) => under(root, `leaders/${coll}`),
  allLeaders: (root: string) => under(root, 'leaders/'),
};

/** The numeric id a key ends with after `prefix` (a collection id under `collections`, `replicas`, `allLeaders`). */
export function idAfter(prefix: string, key: string): number {
  const rest = key.startsWith(prefix) ? key.slice(prefix.length) : '';
  const id = /^\d+$/.test(rest) ? Number(rest) : NaN;
  if (!Number.isSafeInteger(id)) throw new KiteError('MetaFailed', `meta key ${key} does not end in an id after ${prefix}`, { retriable: false });
  return id;
}

/** The collection and segment ids of a segment key (`keys.segment`), e.g. from a delete event that carries no value. */
export function segmentKeyIds(root: string, key: string): { collectionID: number; segmentID: number } {
  const prefix = keys.segments(root);
  const m = key.startsWith(prefix) ? /^(\d+)\/(\d+)$/.exec(key.slice(prefix.length)) : null;
  const collectionID = m ? Number(m[1]) : NaN;
  const segmentID = m ? Number(m[2]) : NaN;
  if (!Number.isSafeInteger(collectionID) || !Number.isSafeInteger(segmentID)) {
    throw new KiteError('MetaFailed', `meta key ${key} is not a segment key (${prefix}<collection>/<segment>)`, { retriable: false });
  }
  return { collectionID, segmentID };
}

/** The database and alias an alias key (`keys.alias`) names. */
export function aliasOfKey(root: string, key: string): AliasRef {
  const prefix = keys.aliases(root);
  const parts = key.startsWith(prefix) ? key.slice(prefix.length).split('/') : [];
  const ok = (parts.length === 1 || parts.length === 2) && parts.every((p) => p !== '');
  if (!ok) throw new KiteError('MetaFailed', `meta key ${key} is not an alias key (${prefix}<alias> or ${prefix}<database>/<alias>)`, { retriable: false });
  const [first = '', second] = parts;
  return second === undefined ? { db: DEFAULT_DB, alias: first } : { db: first, alias: second };
}

/** The database name a database key (`keys.database`) names. */
export function databaseOfKey(root: string, key: string): string {
  const prefix = keys.databases(root);
  const name = key.startsWith(prefix) ? key.slice(prefix.length) : '';
  if (name === '' || name.includes('/')) throw new KiteError('MetaFailed', `meta key ${key} is not a database key (${prefix}<name>)`, { retriable: false });
  return name;
}

/** The user a credential key (`keys.credential`) names. */
export function userOfCredentialKey(root: string, key: string): string {
  const prefix = keys.credentials(root);
  const user = key.startsWith(prefix) ? key.slice(prefix.length) : '';
  if (user === '' || user.includes('/')) throw new KiteError('MetaFailed', `meta key ${key} is not a credential key (${prefix}<user>)`, { retriable: false });
  return user;
}

/** A user's credential: a salted bcrypt hash of the password, never the password. */
export interface CredentialRecord {
  username: string;
  passwordHash: string;
  /** Epoch ms of creation and of the last password change. */
  createdAt: number;
  updatedAt: number;
}

/** A role (the built-in admin and public are not stored). */
export interface RoleRecord {
  name: string;
  createdAt: number;
}

/** A user's membership of a role. */
export interface UserRoleRecord {
  user: string;
  role: string;
}

/** A custom privilege group: a name that, granted, stands for every privilege it lists. */
export interface PrivilegeGroupRecord {
  name: string;
  privileges: string[];
}

/** A privilege granted to a role on an object (`*` for any name, database or privilege), in one database. */
export interface GrantRecord {
  role: string;
  objectType: 'Global' | 'Collection' | 'User';
  dbName: string;
  objectName: string;
  privilege: string;
  grantor: string;
}

/** How one kind of value is written to and read from the meta store. */
export interface Codec<T> {
  encode(value: T): string;
  /** Parses and checks a stored value; `key` names it in the error. */
  decode(text: string, key: string): T;
}

type Check = (v: Record<string, unknown>) => string | undefined;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (...names: string[]): Check => (v) => names.find((n) => typeof v[n] !== 'number') && `field ${names.find((n) => typeof v[n] !== 'number')} is not a number`;
const str = (...names: string[]): Check => (v) => names.find((n) => typeof v[n] !== 'string') && `field ${names.find((n) => typeof v[n] !== 'string')} is not a string`;
const arr = (...names: string[]): Check => (v) => names.find((n) => !Array.isArray(v[n])) && `field ${names.find((n) => !Array.isArray(v[n]))} is not a list`;

function parse(text: string, key: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new KiteError('MetaFailed', `meta value at ${key} is not a ${what} (not JSON: ${String(e)})`, { retriable: false });
  }
}

function reject(key: string, what: string, why: string): never {
  throw new KiteError('MetaFailed', `meta value at ${key} is not a ${what}: ${why}`, { retriable: false });
}

/** A JSON object value with the listed checks. */
function record<T>(what: string, ...checks: Check[]): Codec<T> {
  return {
    encode: (value) => JSON.stringify(value),
    decode: (text, key) => {
      const v = parse(text, key, what);
      if (!isObject(v)) reject(key, what, 'not an object');
      for (const c of checks) {
        const why = c(v);
        if (why) reject(key, what, why);
      }
      return v as T;
    },
  };
}

/** A JSON list of objects, each with the listed checks. */
function list<T>(what: string, ...checks: Check[]): Codec<T[]> {
  return {
    encode: (value) => JSON.stringify(value),
    decode: (text, key) => {
      const v = parse(text, key, what);
      if (!Array.isArray(v)) reject(key, what, 'not a list');
      v.forEach((item: unknown, i) => {
        if (!isObject(item)) reject(key, what, `item ${i} is not an object`);
        for (const c of checks) {
          const why = c(item);
          if (why) reject(key, what, `item ${i}: ${why}`);
        }
      });
      return v as T[];
    },
  };
}

/** A non-negative integer stored as decimal text (counters, allocator marks). */
const decimal: Codec<number> = {
  encode: (value) => String(value),
  decode: (text, key) => {
    const n = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) reject(key, 'counter', `${JSON.stringify(text.slice(0, 40))} is not a non-negative integer`);
    return n;
  },
};

export const codecs = {
  session: record<SessionRecord>('session', num('serverID', 'startedAt'), str('role', 'address', 'metricsAddress', 'version')),
  activeCoordinator: record<ActiveCoordinator>('coordinator record', num('serverID', 'startedAt'), str('address', 'version')),
  collection: record<CollectionMeta>('collection', num('collectionID', 'shardsNum'), str('name', 'topic'), arr('fields', 'indexes'), (v) => (v.dbName === undefined || typeof v.dbName === 'string' ? undefined : 'field dbName is not a string')),
  database: record<DatabaseRecord>('database', num('id'), str('name', 'createdTs'), (v) => (isObject(v.properties) ? undefined : 'field properties is not an object')),
  segment: record<SegmentMeta>('segment', num('segmentID', 'collectionID', 'numRows', 'startOffset', 'endOffset'), str('channel'), arr('indexes')),
  checkpoint: record<ChannelCheckpoint>('channel checkpoint', num('offset'), str('channel', 'ts')),
  compaction: record<CompactionRecord>('compaction', num('compactionID', 'collectionID', 'createdAt'), arr('planIDs')),
  compactionPlan: record<CompactionPlanRecord>('compaction plan', num('compactionID', 'planID', 'collectionID'), str('channel', 'type', 'state'), arr('sources', 'results')),
  importTask: record<ImportTaskRecord>('import task', num('taskID', 'collectionID', 'rowCount', 'progress', 'attempts', 'createdAt'), str('collectionName', 'state', 'reason'), arr('files', 'segmentIDs', 'idRanges')),
  replicas: list<ReplicaRecord>('replica list', num('replicaID'), arr('nodes')),
  leaders: list<PublishedReplica>('shard leader list', num('replica_id'), arr('shards', 'node_ids')),
  credential: record<CredentialRecord>('credential', num('createdAt', 'updatedAt'), str('username', 'passwordHash')),
  role: record<RoleRecord>('role', num('createdAt'), str('name')),
  userRole: record<UserRoleRecord>('user-role binding', str('user', 'role')),
  privilegeGroup: record<PrivilegeGroupRecord>('privilege group', str('name'), arr('privileges')),
  grant: record<GrantRecord>('grant', str('role', 'objectType', 'dbName', 'objectName', 'privilege', 'grantor')),
  counter: decimal,
};
