export { Security, OPEN_METHODS, AUTH_FAILED, AUTH_MISSING } from './security';
export { credentialHandlers } from './handlers';
export { authenticated } from './guard';
export { rbacHandlers } from './rbac-handlers';
