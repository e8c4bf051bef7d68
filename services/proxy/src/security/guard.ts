import * as grpc from '@grpc/grpc-js';
import { KiteError, toKiteError } from '@kite/common';
import { beforeDeadline, requestDeadline, type ServiceMetrics } from '@kite/rpc';
import type { Security } from './security';

/**
 * `handler` behind the authentication and permission checks: with authorization on, a call without valid
 * credentials is answered with gRPC UNAUTHENTICATED, and one its user has no privilege for with gRPC
 * PERMISSION_DENIED, each with Milvus's message, as Milvus's proxy does (the SDKs then neither retry nor go on).
 * With it off, `handler` itself.
 */
export function authenticated<Req, Res>(
  security: Security | undefined,
  method: string,
  handler: grpc.handleUnaryCall<Req, Res>,
  boundMs: number,
  metrics: ServiceMetrics,
): grpc.handleUnaryCall<Req, Res> {
  if (!security?.enabled) return handler;
  return (call, cb) => {
    // The checks end by the call's deadline too (a user unknown to this proxy is looked up in the meta store).
    const deadline = requestDeadline(call.getDeadline(), boundMs);
    beforeDeadline(security.authenticate(method, call.metadata, call.getPeer()), deadline, 'credential check')
      .catch((err: unknown) => {
        if (err instanceof KiteError) throw err;
        throw new KiteError('ServiceUnavailable', `${method}: ${toKiteError(err).message}`, { retriable: true });
      })
      .then((user) => security.authorize(user, method, call.request, call.metadata))
      .then(
        () => handler(call, cb),
        (err: unknown) => {
          const k = toKiteError(err);
          // Counted like every other answer, by Milvus code (1400 not authenticated, 1401 not permitted).
          metrics.requests.inc({ method, status: String(k.code) });
          const code =
            k.kind === 'NotAuthenticated' ? grpc.status.UNAUTHENTICATED : k.kind === 'PrivilegeNotPermitted' ? grpc.status.PERMISSION_DENIED : grpc.status.UNAVAILABLE;
          cb({ code, details: k.message });
        },
      );
  };
}
