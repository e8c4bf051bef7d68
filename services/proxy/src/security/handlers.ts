import { KiteError } from '@kite/common';
import type { Handlers } from '../core';
import { OK } from '../status';
import { ROOT_USER, checkUsername, decodePassword } from './parse';
import type { Security } from './security';

/**
 * CreateCredential, UpdateCredential, DeleteCredential, ListCredUsers: users and their passwords, as in Milvus. Who
 * may call them is checked before (guard.ts): CreateOwnership, UpdateUser (a user may always change its own),
 * DropOwnership, SelectOwnership.
 */
export function credentialHandlers(security: Security): Handlers {
  return {
    async CreateCredential(r) {
      checkUsername(r.username);
      const password = decodePassword(r.password, 'password');
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
    async DeleteCredential(r) {
      checkUsername(r.username);
      if (r.username === ROOT_USER) throw new KiteError('PrivilegeNotPermitted', 'user root cannot be deleted');
      await security.remove(r.username);
      return OK;
    },
    async ListCredUsers() {
      return { status: OK, usernames: await security.listUsers() };
    },
  };
}
