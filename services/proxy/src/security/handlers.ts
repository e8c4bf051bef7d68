import { KiteError } from '@kite/common';
import type { Handlers } from '../core';
import type { RequestContext } from '../request';
import { OK } from '../status';
import { ROOT_USER, checkUsername, decodePassword } from './parse';
import type { Security } from './security';

/**
 * With authorization on, only root manages users (creates and deletes them); without it anyone may, as in Milvus.
 * (Milvus gives this to roles holding the Global CreateOwnership/DropOwnership privilege, root's admin role by default.)
 */
function requireRoot(security: Security, ctx: RequestContext, what: string): void {
  if (!security.enabled) return;
  const caller = security.callerOf(ctx.metadata);
  if (caller !== ROOT_USER) throw new KiteError('PrivilegeNotPermitted', `${what} needs the root user; ${caller ?? 'this caller'} may not`);
}

/** CreateCredential, UpdateCredential, DeleteCredential, ListCredUsers: users and their passwords, as in Milvus. */
export function credentialHandlers(security: Security): Handlers {
  return {
    async CreateCredential(r, ctx) {
      checkUsername(r.username);
      const password = decodePassword(r.password, 'password');
      requireRoot(security, ctx, 'CreateCredential');
      await security.create(r.username, password);
      return OK;
    },
    async UpdateCredential(r) {
      checkUsername(r.username);
      const oldPassword = decodePassword(r.oldPassword, 'oldPassword');
      const newPassword = decodePassword(r.newPassword, 'newPassword');
      // As Milvus (no superusers configured): whoever changes a password proves they know the old one.
      if (!(await security.verify(r.username, oldPassword))) {
        throw new KiteError('NotAuthenticated', `old password not correct for ${r.username}`);
      }
      await security.update(r.username, newPassword);
      return OK;
    },
    async DeleteCredential(r, ctx) {
      checkUsername(r.username);
      if (r.username === ROOT_USER) throw new KiteError('PrivilegeNotPermitted', 'user root cannot be deleted');
      requireRoot(security, ctx, 'DeleteCredential');
      await security.remove(r.username);
      return OK;
    },
    async ListCredUsers() {
      return { status: OK, usernames: await security.listUsers() };
    },
  };
}
