import * as grpc from '@grpc/grpc-js';
import { toKiteError } from '@kite/common';
import type { Security } from './security';

/**
 * `handler` behind the authentication and permission checks: with authorization on, a call without valid
 * credentials is answered with gRPC UNAUTHENTICATED, and one its user has no privilege for with gRPC
 * PERMISSION_DENIED, each with Milvus's message, as Milvus's proxy does (the SDKs then neither retry nor go on).
 * With it off, `handler` itself.
 */
export function authenticated<Req, Res>(security: Security | undefined, method: string, handler: grpc.handleUnaryCall<Req, Res>): grpc.handleUnaryCall<Req, Res> {
  if (!security?.enabled) return handler;
  return (call, cb) => {
    security
      .authenticate(method, call.metadata, call.getPeer())
      .then((user) => security.authorize(user, method, call.request, call.metadata))
      .then(
        () => handler(call, cb),
        (err: unknown) => {
          const k = toKiteError(err);
          const code =
            k.kind === 'NotAuthenticated' ? grpc.status.UNAUTHENTICATED : k.kind === 'PrivilegeNotPermitted' ? grpc.status.PERMISSION_DENIED : grpc.status.UNAVAILABLE;
          cb({ code, details: k.message });
        },
      );
  };
}
