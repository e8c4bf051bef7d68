import * as grpc from '@grpc/grpc-js';
import { toKiteError } from '@kite/common';
import type { Security } from './security';

/**
 * `handler` behind the authentication check: with authorization on, a call without valid credentials is answered
 * with gRPC UNAUTHENTICATED and Milvus's message, as Milvus's proxy does (the SDKs then neither retry nor go on).
 * With it off, `handler` itself.
 */
export function authenticated<Req, Res>(security: Security | undefined, method: string, handler: grpc.handleUnaryCall<Req, Res>): grpc.handleUnaryCall<Req, Res> {
  if (!security?.enabled) return handler;
  return (call, cb) => {
    security.authenticate(method, call.metadata, call.getPeer()).then(
      () => handler(call, cb),
      (err: unknown) => {
        const k = toKiteError(err);
        const code = k.kind === 'NotAuthenticated' ? grpc.status.UNAUTHENTICATED : grpc.status.UNAVAILABLE;
        cb({ code, details: k.message });
      },
    );
  };
}
