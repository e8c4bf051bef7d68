import { KiteError, clip } from '@kite/common';

export type ObjectType = 'Global' | 'Collection' | 'User';

/**
 * The privilege a method needs and on which object type: Milvus's `privilege_ext_obj` of each request message.
 * Methods whose request declares none (Connect, HasCollection, RunAnalyzer, ...) have no entry: open to every
 * authenticated user, as in Milvus.
 */
export const METHOD_PRIVILEGES: Readonly<Record<string, { object: ObjectType; privilege: string }>> = {
  CreateAlias: { object: 'Global', privilege: 'CreateAlias' },
  DropAlias: { object: 'Global', privilege: 'DropAlias' },
  AlterAlias: { object: 'Global', privilege: 'CreateAlias' },
  DescribeAlias: { object: 'Global', privilege: 'DescribeAlias' },
  ListAliases: { object: 'Global', privilege: 'ListAliases' },
  CreateCollection: { object: 'Global', privilege: 'CreateCollection' },
  DropCollection: { object: 'Global', privilege: 'DropCollection' },
  AlterCollection: { object: 'Global', privilege: 'CreateCollection' },
  AlterCollectionField: { object: 'Global', privilege: 'CreateCollection' },
  AddCollectionField: { object: 'Collection', privilege: 'AddCollectionField' },
  DescribeCollection: { object: 'Global', privilege: 'DescribeCollection' },
  BatchDescribeCollection: { object: 'Global', privilege: 'DescribeCollection' },
  TruncateCollection: { object: 'Global', privilege: 'DropCollection' },
  RenameCollection: { object: 'Global', privilege: 'RenameCollection' },
  FlushAll: { object: 'Global', privilege: 'FlushAll' },
  LoadCollection: { object: 'Collection', privilege: 'Load' },
  LoadPartitions: { object: 'Collection', privilege: 'Load' },
  ReleaseCollection: { object: 'Collection', privilege: 'Release' },
  ReleasePartitions: { object: 'Collection', privilege: 'Release' },
  GetStatistics: { object: 'Collection', privilege: 'GetStatistics' },
  GetCollectionStatistics: { object: 'Collection', privilege: 'GetStatistics' },
  GetPartitionStatistics: { object: 'Collection', privilege: 'GetStatistics' },
  CreatePartition: { object: 'Collection', privilege: 'CreatePartition' },
  DropPartition: { object: 'Collection', privilege: 'DropPartition' },
  HasPartition: { object: 'Collection', privilege: 'HasPartition' },
  ShowPartitions: { object: 'Collection', privilege: 'ShowPartitions' },
  CreateIndex: { object: 'Collection', privilege: 'CreateIndex' },
  AlterIndex: { object: 'Collection', privilege: 'CreateIndex' },
  DescribeIndex: { object: 'Collection', privilege: 'IndexDetail' },
  GetIndexBuildProgress: { object: 'Collection', privilege: 'IndexDetail' },
  GetIndexState: { object: 'Collection', privilege: 'IndexDetail' },
  GetIndexStatistics: { object: 'Collection', privilege: 'IndexDetail' },
  DropIndex: { object: 'Collection', privilege: 'DropIndex' },
  Insert: { object: 'Collection', privilege: 'Insert' },
  Upsert: { object: 'Collection', privilege: 'Upsert' },
  Delete: { object: 'Collection', privilege: 'Delete' },
  Search: { object: 'Collection', privilege: 'Search' },
  HybridSearch: { object: 'Collection', privilege: 'Search' },
  Query: { object: 'Collection', privilege: 'Query' },
  Flush: { object: 'Collection', privilege: 'Flush' },
  LoadBalance: { object: 'Collection', privilege: 'LoadBalance' },
  ManualCompaction: { object: 'Collection', privilege: 'Compaction' },
  Import: { object: 'Collection', privilege: 'Import' },
  GetFlushState: { object: 'Collection', privilege: 'GetFlushState' },
  GetLoadingProgress: { object: 'Collection', privilege: 'GetLoadState' },
  GetLoadState: { object: 'Collection', privilege: 'GetLoadState' },
  CreateCredential: { object: 'Global', privilege: 'CreateOwnership' },
  UpdateCredential: { object: 'User', privilege: 'UpdateUser' },
  DeleteCredential: { object: 'Global', privilege: 'DropOwnership' },
  ListCredUsers: { object: 'Global', privilege: 'SelectOwnership' },
  CreateRole: { object: 'Global', privilege: 'CreateOwnership' },
  DropRole: { object: 'Global', privilege: 'DropOwnership' },
  OperateUserRole: { object: 'Global', privilege: 'ManageOwnership' },
  SelectRole: { object: 'Global', privilege: 'SelectOwnership' },
  SelectUser: { object: 'User', privilege: 'SelectUser' },
  SelectGrant: { object: 'Global', privilege: 'SelectOwnership' },
  OperatePrivilege: { object: 'Global', privilege: 'ManageOwnership' },
  OperatePrivilegeV2: { object: 'Global', privilege: 'ManageOwnership' },
  CreatePrivilegeGroup: { object: 'Global', privilege: 'CreatePrivilegeGroup' },
  DropPrivilegeGroup: { object: 'Global', privilege: 'DropPrivilegeGroup' },
  ListPrivilegeGroups: { object: 'Global', privilege: 'ListPrivilegeGroups' },
  OperatePrivilegeGroup: { object: 'Global', privilege: 'OperatePrivilegeGroup' },
  CreateDatabase: { object: 'Global', privilege: 'CreateDatabase' },
  DropDatabase: { object: 'Global', privilege: 'DropDatabase' },
  AlterDatabase: { object: 'Global', privilege: 'AlterDatabase' },
  DescribeDatabase: { object: 'Global', privilege: 'DescribeDatabase' },
};

/** Privileges that can be granted on each object type (Milvus's names), besides `*` / `All` for every one of them. */
export const OBJECT_PRIVILEGES: Readonly<Record<ObjectType, ReadonlySet<string>>> = {
  Collection: new Set([
    'Load', 'Release', 'Compaction', 'Insert', 'Delete', 'Upsert', 'GetStatistics', 'CreateIndex', 'IndexDetail', 'DropIndex', 'Search',
    'Query', 'LoadBalance', 'Import', 'Flush', 'GetFlushState', 'GetLoadState', 'GetLoadingProgress', 'CreatePartition', 'DropPartition',
    'ShowPartitions', 'HasPartition', 'AddCollectionField',
  ]),
  Global: new Set([
    'CreateCollection', 'DropCollection', 'DescribeCollection', 'ShowCollections', 'RenameCollection', 'FlushAll', 'CreateOwnership',
    'DropOwnership', 'SelectOwnership', 'ManageOwnership', 'CreateResourceGroup', 'DropResourceGroup', 'DescribeResourceGroup',
    'ListResourceGroups', 'TransferNode', 'TransferReplica', 'UpdateResourceGroups', 'CreateDatabase', 'DropDatabase', 'ListDatabases',
    'AlterDatabase', 'DescribeDatabase', 'CreateAlias', 'DropAlias', 'DescribeAlias', 'ListAliases', 'CreatePrivilegeGroup',
    'DropPrivilegeGroup', 'ListPrivilegeGroups', 'OperatePrivilegeGroup', 'BackupRBAC', 'RestoreRBAC',
  ]),
  User: new Set(['UpdateUser', 'SelectUser']),
};

export const ALL_PRIVILEGES = '*';
export const ADMIN_ROLE = 'admin';
export const PUBLIC_ROLE = 'public';
export const DEFAULT_DB = 'default';

/** What every user may do through the built-in public role (Milvus grants these to public at first start). */
export const PUBLIC_GRANTS: readonly { objectType: ObjectType; objectName: string; dbName: string; privilege: string }[] = [
  { objectType: 'Global', objectName: '*', dbName: '*', privilege: 'DescribeCollection' },
  { objectType: 'Global', objectName: '*', dbName: '*', privilege: 'ShowCollections' },
  { objectType: 'Collection', objectName: '*', dbName: '*', privilege: 'IndexDetail' },
];

/** A privilege name of any object type (the `Privilege` prefix dropped), or undefined when Milvus has none by that name. */
export function knownPrivilege(name: string): string | undefined {
  const bare = name.startsWith('Privilege') ? name.slice('Privilege'.length) : name;
  return Object.values(OBJECT_PRIVILEGES).some((set) => set.has(bare)) ? bare : undefined;
}

const isObjectType = (v: string): v is ObjectType => v === 'Global' || v === 'Collection' || v === 'User';

/** An object type named in a grant request, or a ParameterInvalid naming the choices. */
export function checkObjectType(name: string): ObjectType {
  if (!isObjectType(name)) throw new KiteError('ParameterInvalid', `object type "${clip(name, 64)}" is not one of Global, Collection, User`);
  return name;
}

/**
 * A privilege named in a grant request, as stored: Milvus's name (`Insert`; the `Privilege` prefix of the enum is
 * accepted and dropped), or `*` for all (also spelt `All`). Refused when the object type has no such privilege.
 */
export function normalizePrivilege(objectType: ObjectType, name: string): string {
  const bare = name.startsWith('Privilege') ? name.slice('Privilege'.length) : name;
  if (bare === '*' || bare === 'All') return ALL_PRIVILEGES;
  if (!OBJECT_PRIVILEGES[objectType].has(bare)) {
    throw new KiteError('ParameterInvalid', `privilege "${clip(name, 64)}" does not apply to ${objectType} objects; use one of ${[...OBJECT_PRIVILEGES[objectType]].join(', ')} or *`);
  }
  return bare;
}

/** An object or database name in a grant: `*`, or a name of letters, digits, `_`, `-`, `.` (it becomes part of a meta key). */
export function checkGrantName(name: string, field: string): string {
  if (name === '' || name.length > 255 || !/^(\*|[A-Za-z0-9_.-]+)$/.test(name)) {
    throw new KiteError('ParameterInvalid', `${field} "${clip(name, 64)}" is not valid: give a name of letters, digits, underscores, dots and dashes, or *`);
  }
  return name;
}

/** The names of the objects a call touches, by object type: collection names, the user named, or `*` for Global. */
export function objectNamesOf(method: string, object: ObjectType, request: unknown): string[] {
  const r = (typeof request === 'object' && request !== null ? request : {}) as Record<string, unknown>;
  if (object === 'Global') return ['*'];
  if (object === 'User') {
    if (method === 'SelectUser') {
      const user = r.user as { name?: unknown } | null | undefined;
      return [typeof user?.name === 'string' ? user.name : ''];
    }
    return [typeof r.username === 'string' ? r.username : ''];
  }
  if (method === 'Flush') return Array.isArray(r.collection_names) ? r.collection_names.map(String) : [];
  if (method === 'LoadBalance') return [typeof r.collectionName === 'string' ? r.collectionName : ''];
  return [typeof r.collection_name === 'string' ? r.collection_name : ''];
}

/** Whether `grant` (possibly with `*` for object name, database or privilege) covers the asked privilege. */
export function grantCovers(
  grant: { objectType: string; objectName: string; dbName: string; privilege: string },
  ask: { objectType: ObjectType; objectName: string; dbName: string; privilege: string },
): boolean {
  return (
    grant.objectType === ask.objectType &&
    (grant.objectName === '*' || grant.objectName === ask.objectName) &&
    (grant.dbName === '*' || grant.dbName === ask.dbName) &&
    (grant.privilege === ALL_PRIVILEGES || grant.privilege === ask.privilege)
  );
}
