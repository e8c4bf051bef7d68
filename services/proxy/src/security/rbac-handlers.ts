import { KiteError, clip } from '@kite/common';
import type { GrantEntityOut } from '@kite/proto';
import type { GrantRecord } from '@kite/segment';
import type { Handlers } from '../core';
import type { RequestContext } from '../request';
import { OK } from '../status';
import { ROOT_USER, checkUsername } from './parse';
import { ALL_PRIVILEGES, DEFAULT_DB, OBJECT_PRIVILEGES, checkGrantName, checkObjectType, knownPrivilege, normalizePrivilege, type ObjectType } from './privileges';
import type { Security } from './security';

const isGrant = (t: string | number): boolean => t === 'Grant' || t === 0;
const isRevoke = (t: string | number): boolean => t === 'Revoke' || t === 1;

function operation(t: string | number, field: string): 'grant' | 'revoke' {
  if (isGrant(t)) return 'grant';
  if (isRevoke(t)) return 'revoke';
  throw new KiteError('ParameterInvalid', `${field} ${clip(String(t), 32)} is not Grant or Revoke`);
}

/** The object type a privilege belongs to (OperatePrivilegeV2 names no object type). */
function objectTypeOf(privilege: string): ObjectType {
  const bare = privilege.startsWith('Privilege') ? privilege.slice('Privilege'.length) : privilege;
  for (const t of ['Collection', 'Global', 'User'] as const) if (OBJECT_PRIVILEGES[t].has(bare)) return t;
  if (bare === '*' || bare === 'All') return 'Global';
  throw new KiteError('ParameterInvalid', `privilege "${clip(privilege, 64)}" is not a Milvus privilege (e.g. Insert, Search, Query, CreateCollection)`);
}

const grantOut = (g: GrantRecord): GrantEntityOut => ({
  role: { name: g.role },
  object: { name: g.objectType },
  object_name: g.objectName,
  db_name: g.dbName,
  grantor: { user: { name: g.grantor }, privilege: { name: g.privilege === ALL_PRIVILEGES ? 'All' : g.privilege } },
});

/**
 * Milvus's RBAC calls: CreateRole, DropRole, OperateUserRole, SelectRole, SelectUser, OperatePrivilege (and V2),
 * SelectGrant, and custom privilege groups (CreatePrivilegeGroup, DropPrivilegeGroup, ListPrivilegeGroups,
 * OperatePrivilegeGroup). State lives in the meta store (rbac.ts); who may call these is checked before (guard.ts).
 */
export function rbacHandlers(security: Security): Handlers {
  const rbac = security.rbac;
  const grantor = (ctx: RequestContext): string => security.callerOf(ctx.metadata) ?? ROOT_USER;
  const roleName = (name: string | undefined, field: string): string => {
    checkUsername(name ?? '', field);
    return name ?? '';
  };
  const existingUser = async (user: string): Promise<void> => {
    if (!(await security.record(user))) throw new KiteError('ParameterInvalid', `user ${user} does not exist; CreateCredential creates it`);
  };
  const operate = async (op: 'grant' | 'revoke', g: GrantRecord): Promise<void> => {
    if (op === 'grant') await rbac.grant(g);
    else await rbac.revoke(g);
  };

  return {
    async CreateRole(r) {
      await rbac.createRole(roleName(r.entity?.name, 'role name'));
      return OK;
    },
    async DropRole(r) {
      await rbac.dropRole(roleName(r.role_name, 'role_name'), r.force_drop);
      return OK;
    },
    async OperateUserRole(r) {
      checkUsername(r.username);
      const role = roleName(r.role_name, 'role_name');
      if (r.type === 'AddUserToRole' || r.type === 0) {
        await existingUser(r.username);
        await rbac.addUserToRole(r.username, role);
      } else if (r.type === 'RemoveUserFromRole' || r.type === 1) {
        await rbac.removeUserFromRole(r.username, role);
      } else {
        throw new KiteError('ParameterInvalid', `type ${clip(String(r.type), 32)} is not AddUserToRole or RemoveUserFromRole`);
      }
      return OK;
    },
    async SelectRole(r) {
      const name = r.role?.name ?? '';
      const names = name === '' ? rbac.roles() : rbac.roleExists(name) ? [name] : [];
      return {
        status: OK,
        results: names.map((role) => ({ role: { name: role }, users: r.include_user_info ? rbac.usersOf(role).map((u) => ({ name: u })) : [] })),
      };
    },
    async SelectUser(r) {
      const name = r.user?.name ?? '';
      if (name !== '') await existingUser(name);
      const users = name === '' ? await security.listUsers() : [name];
      return {
        status: OK,
        results: users.map((user) => ({ user: { name: user }, roles: r.include_role_info ? rbac.rolesOf(user).map((role) => ({ name: role })) : [] })),
      };
    },
    async OperatePrivilege(r, ctx) {
      const e = r.entity;
      if (!e) throw new KiteError('ParameterMissing', 'entity is missing; give the role, object, object_name and privilege of the grant');
      const objectType = checkObjectType(e.object?.name ?? '');
      const privilegeName = e.grantor?.privilege?.name ?? '';
      await operate(operation(r.type, 'type'), {
        role: roleName(e.role?.name, 'role name'),
        objectType,
        objectName: checkGrantName(e.object_name, 'object_name'),
        dbName: checkGrantName(e.db_name || DEFAULT_DB, 'db_name'),
        privilege: rbac.groupExists(privilegeName) ? privilegeName : normalizePrivilege(objectType, privilegeName),
        grantor: grantor(ctx),
      });
      return OK;
    },
    async OperatePrivilegeV2(r, ctx) {
      const privilegeName = r.grantor?.privilege?.name ?? '';
      const group = rbac.groupExists(privilegeName);
      const collection = checkGrantName(r.collection_name || '*', 'collection_name');
      // A group is granted on a collection, or with collection * on a database (db * for the cluster).
      const objectType: ObjectType = group ? (collection === '*' ? 'Global' : 'Collection') : objectTypeOf(privilegeName);
      await operate(operation(r.type, 'type'), {
        role: roleName(r.role?.name, 'role name'),
        objectType,
        objectName: objectType === 'Collection' ? collection : '*',
        dbName: checkGrantName(r.db_name || DEFAULT_DB, 'db_name'),
        privilege: group ? privilegeName : normalizePrivilege(objectType, privilegeName),
        grantor: grantor(ctx),
      });
      return OK;
    },
    async CreatePrivilegeGroup(r) {
      const name = roleName(r.group_name, 'group_name');
      if (knownPrivilege(name) !== undefined) throw new KiteError('ParameterInvalid', `group_name ${name} is the name of a privilege; choose another`);
      await rbac.createGroup(name);
      return OK;
    },
    async DropPrivilegeGroup(r) {
      await rbac.dropGroup(roleName(r.group_name, 'group_name'));
      return OK;
    },
    async ListPrivilegeGroups() {
      return {
        status: OK,
        privilege_groups: [...rbac.groups()].sort(([a], [b]) => a.localeCompare(b)).map(([name, privileges]) => ({ group_name: name, privileges: privileges.map((p) => ({ name: p })) })),
      };
    },
    async OperatePrivilegeGroup(r) {
      const name = roleName(r.group_name, 'group_name');
      const privileges = r.privileges.map((p) => {
        const known = knownPrivilege(p.name);
        if (known === undefined) throw new KiteError('ParameterInvalid', `privilege "${clip(p.name, 64)}" is not a Milvus privilege (e.g. Insert, Search, Query)`);
        return known;
      });
      if (privileges.length === 0) throw new KiteError('ParameterMissing', 'privileges is empty; name at least one privilege');
      if (r.type === 'AddPrivilegesToGroup' || r.type === 0) await rbac.changeGroup(name, privileges, true);
      else if (r.type === 'RemovePrivilegesFromGroup' || r.type === 1) await rbac.changeGroup(name, privileges, false);
      else throw new KiteError('ParameterInvalid', `type ${clip(String(r.type), 32)} is not AddPrivilegesToGroup or RemovePrivilegesFromGroup`);
      return OK;
    },
    async SelectGrant(r) {
      const e = r.entity;
      const role = roleName(e?.role?.name, 'role name');
      const object = e?.object?.name ?? '';
      const objectName = e?.object_name ?? '';
      const db = e?.db_name ?? '';
      const entities = rbac
        .grantsOf(role)
        .filter((g) => (object === '' || g.objectType === object) && (objectName === '' || g.objectName === objectName) && (db === '' || db === '*' || g.dbName === db))
        .sort((a, b) => `${a.objectType}/${a.dbName}/${a.objectName}/${a.privilege}`.localeCompare(`${b.objectType}/${b.dbName}/${b.objectName}/${b.privilege}`))
        .map(grantOut);
      return { status: OK, entities };
    },
  };
}
