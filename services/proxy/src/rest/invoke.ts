import * as grpc from '@grpc/grpc-js';
import { KiteError, clip, toKiteError, type KiteConfig, type Logger } from '@kite/common';
import { milvusServiceDefinition, type MilvusMethodName, type Status } from '@kite/proto';
import { requestDeadline, serviceMetrics, unaryInvoker } from '@kite/rpc';
import type { Handlers } from '../core';
import { READ_METHODS, requestContext } from '../request';
import type { Security } from '../security';
import { errorResponse } from '../status';

const metrics = serviceMetrics('proxy', { requests: 'MilvusService requests by method and status code', latency: 'MilvusService request latency' });

/** One REST request as the handlers see it: who calls, in which database, by when (epoch ms). */
export interface RestCall {
  /** Metadata as a gRPC client would send it: `authorization` (base64 of user:password) and `dbname`. */
  metadata: grpc.Metadata;
  /** The user authenticated for the call (undefined with authorization off). */
  user: string | undefined;
  /** The client's deadline from the Request-Timeout header (seconds), when it sent one. */
  clientDeadline: number | undefined;
}

/** A decoded message: what the gRPC loader produces (every field present, int64 as strings, bytes as Buffers). */
export type Decoded = Record<string, unknown>;

/**
 * Calls MilvusService handlers for the RESTful API exactly as the gRPC server does: the request goes through the
 * same protobuf encoding (so a handler sees the decoded shape it gets over gRPC, defaults filled in), the same
 * deadline (the earlier of the client's Request-Timeout and proxy.defaultTimeoutMs for reads or
 * proxy.writeTimeoutMs for the rest), the same permission check, and the same metrics; the response is decoded
 * back the way a client would. A failed status is thrown as a KiteError with its Milvus code.
 */
export class MilvusInvoker {
  private readonly def = milvusServiceDefinition();
  private readonly invokers = new Map<string, (request: unknown, clientDeadline: number | undefined, metadata: grpc.Metadata) => Promise<unknown>>();

  constructor(
    private readonly cfg: KiteConfig,
    private readonly handlers: Handlers,
    private readonly log: Logger,
    private readonly security: Security | undefined,
  ) {}

  private invoker(method: MilvusMethodName): (request: unknown, clientDeadline: number | undefined, metadata: grpc.Metadata) => Promise<unknown> {
    let inv = this.invokers.get(method);
    if (inv) return inv;
    const fn = this.handlers[method] as ((r: unknown, ctx: ReturnType<typeof requestContext>) => Promise<unknown>) | undefined;
    const read = READ_METHODS.has(method);
    const ms = read ? this.cfg.proxy.defaultTimeoutMs : this.cfg.proxy.writeTimeoutMs;
    inv = unaryInvoker<unknown, unknown>(
      method,
      async (request, ctx) => {
        if (!fn) throw new KiteError('Unimplemented', `${method} is not supported by Kite`);
        return fn(request, requestContext(request, ctx));
      },
      {
        metrics,
        bound: { ms, name: `${read ? 'proxy.defaultTimeoutMs' : 'proxy.writeTimeoutMs'} = ${ms} ms` },
        errorResponse: (err) => errorResponse(method, err),
        onError: (m, err) => {
          if (err.kind === 'Internal') this.log.error({ method: m, err: err.message, stack: err.stack }, 'REST request failed');
        },
      },
    );
    this.invokers.set(method, inv);
    return inv;
  }

  /** Counts a call refused before its handler ran (credentials), by Milvus code, as the gRPC server counts it. */
  countRefused(method: MilvusMethodName, code: number): void {
    metrics.requests.inc({ method, status: String(code) });
  }

  /** The deadline a call of `method` gets now (for the checks made before it). */
  deadline(method: MilvusMethodName, call: RestCall): number {
    const ms = READ_METHODS.has(method) ? this.cfg.proxy.defaultTimeoutMs : this.cfg.proxy.writeTimeoutMs;
    return requestDeadline(call.clientDeadline, ms);
  }

  /**
   * Runs `method` with `request` (field names as in the .proto; enums by name; int64 as string or number) and
   * resolves with the decoded response. `authorize: false` skips the permission check, for the look-ups the REST
   * layer makes on its own account (the collection's schema before an insert).
   */
  async call(method: MilvusMethodName, request: object, call: RestCall, authorize = true): Promise<Decoded> {
    const m = this.def[method];
    if (!m) throw new KiteError('Unimplemented', `${method} is not a MilvusService method`);
    let decoded: unknown;
    try {
      decoded = m.requestDeserialize(m.requestSerialize(request));
    } catch (e) {
      throw new KiteError('ParameterInvalid', `the ${method} request cannot be encoded: ${clip(toKiteError(e).message, 256)}`);
    }
    if (authorize && this.security?.enabled) {
      try {
        this.security.authorize(call.user, method, decoded, call.metadata);
      } catch (e) {
        this.countRefused(method, toKiteError(e).code);
        throw e;
      }
    }
    const res = await this.invoker(method)(decoded, call.clientDeadline, call.metadata);
    const out = m.responseDeserialize(m.responseSerialize(res)) as Decoded;
    const status = ('error_code' in out ? out : out.status) as Status | null | undefined;
    if (status && (status.code !== 0 || (status.error_code !== 'Success' && String(status.error_code) !== '0'))) throw new StatusError(status);
    return out;
  }
}

/** A handler's failed status, carried to the REST answer with its Milvus code and message. */
export class StatusError extends Error {
  readonly code: number;
  constructor(status: Status) {
    super(status.reason || status.detail || 'request failed');
    // A status with only the legacy code set (none of Kite's handlers answers so) still reads as a failure.
    this.code = status.code || 65535;
  }
}
