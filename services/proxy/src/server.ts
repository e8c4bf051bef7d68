import * as grpc from '@grpc/grpc-js';
import { KiteError, clip, type KiteConfig, type Logger } from '@kite/common';
import { milvusServiceDefinition, type MilvusHandlers, type MilvusMethodName, type MilvusRequest, type MilvusResponse } from '@kite/proto';
import { serviceMetrics, unaryHandler, type CallContext } from '@kite/rpc';
import type { Handler, Handlers } from './core';
import { READ_METHODS, requestContext } from './request';
import { authenticated, type Security } from './security';
import { errorResponse } from './status';
import { queryReplyForWire } from './wire-int64';
import { encodeSearchReply } from './search-reply';
import { withColumns } from './insert-decode';

const metrics = serviceMetrics('proxy', { requests: 'MilvusService requests by method and status code', latency: 'MilvusService request latency' });

/** What the service definition hands a handler in place of a request whose bytes could not be decoded. */
interface Malformed {
  [MALFORMED]: true;
  error: string;
}
const MALFORMED = Symbol('malformed request');
const isMalformed = (r: unknown): r is Malformed => typeof r === 'object' && r !== null && MALFORMED in r;

/**
 * The read path's serializers: search replies write their keys and scores directly (search-reply.ts); the query
 * reply's int64 values go to the encoder as numbers where exact (wire-int64.ts).
 */
const REPLY_SERIALIZE: Record<string, (generic: (reply: unknown) => Buffer) => (reply: unknown) => Buffer> = {
  Search: (generic) => (reply) => encodeSearchReply(reply, generic),
  HybridSearch: (generic) => (reply) => encodeSearchReply(reply, generic),
  Query: (generic) => (reply) => generic(queryReplyForWire(reply)),
};

/**
 * The service definition with request decoding that does not throw: grpc-js would answer a malformed request with a
 * bare INTERNAL status; the handler answers it with a Milvus status naming the request instead.
 */
function tolerantDefinition(def: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, m] of Object.entries(def)) {
    const serialize = REPLY_SERIALIZE[name];
    // Insert and Upsert carry the bulk of the bytes: their float vectors and Int64 values decode straight into typed arrays.
    const decode = name === 'Insert' || name === 'Upsert' ? withColumns(m.requestDeserialize) : m.requestDeserialize;
    out[name] = {
      ...m,
      ...(serialize === undefined ? {} : { responseSerialize: serialize((reply: unknown): Buffer => m.responseSerialize(reply)) }),
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return decode(bytes);
        } catch (e) {
          return { [MALFORMED]: true, error: clip((e as Error).message, 256) } satisfies Malformed;
        }
      },
    };
  }
  return out as grpc.ServiceDefinition;
}

/**
 * One MilvusService method through the shared unary wrapper (@kite/rpc): the request's deadline is the earlier of
 * the client's and proxy.defaultTimeoutMs (reads) or proxy.writeTimeoutMs (everything else); a failure is answered
 * with a Milvus status. Methods Kite does not serve answer Unimplemented, naming the method.
 */
function serve<M extends MilvusMethodName>(method: M, fn: Handler<M> | undefined, cfg: KiteConfig, log: Logger, security?: Security): grpc.handleUnaryCall<MilvusRequest<M>, MilvusResponse<M>> {
  const read = READ_METHODS.has(method);
  const ms = read ? cfg.proxy.defaultTimeoutMs : cfg.proxy.writeTimeoutMs;
  const bound = { ms, name: `${read ? 'proxy.defaultTimeoutMs' : 'proxy.writeTimeoutMs'} = ${ms} ms` };
  const run = async (request: MilvusRequest<M>, ctx: CallContext) => {
    if (!fn) throw new KiteError('Unimplemented', `${method} is not supported by Kite`);
    if (isMalformed(request)) throw new KiteError('ParameterInvalid', `the ${method} request is not a valid protobuf message: ${request.error}`);
    return fn(request, requestContext(request, ctx));
  };
  const handler = unaryHandler(method, run, {
    metrics,
    bound,
    // The error response of a method is its response type with only the status set (or the status itself).
    errorResponse: (err) => errorResponse(method, err) as MilvusResponse<M>,
    onError: (m, err) => {
      if (err.kind === 'Internal') log.error({ method: m, err: err.message, stack: err.stack }, 'request failed');
    },
  });
  return authenticated(security, method, handler, ms, metrics);
}

function setHandler<M extends MilvusMethodName>(out: Partial<MilvusHandlers>, method: M, h: grpc.handleUnaryCall<MilvusRequest<M>, MilvusResponse<M>>): void {
  (out as Record<string, unknown>)[method] = h;
}

/** Options of the gRPC server that serves MilvusService: message size bounds, keepalive pings from SDK clients. */
export function milvusServerOptions(cfg: KiteConfig): grpc.ServerOptions {
  return {
    'grpc.max_receive_message_length': cfg.proxy.maxMessageBytes,
    'grpc.max_send_message_length': cfg.proxy.maxSendMessageBytes,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 1000,
  };
}

/**
 * Adds MilvusService to `server` with `handlers` registered (methods without one answer Unimplemented); with
 * `security` and authorization on, every call is authenticated first (security/guard.ts).
 */
export function addMilvusService(server: grpc.Server, cfg: KiteConfig, handlers: Handlers, log: Logger, security?: Security): void {
  const def = tolerantDefinition(milvusServiceDefinition());
  const impl: Partial<MilvusHandlers> = {};
  const bind = <M extends MilvusMethodName>(method: M): void => setHandler(impl, method, serve(method, handlers[method], cfg, log, security));
  for (const method of Object.keys(def) as MilvusMethodName[]) bind(method);
  server.addService(def, impl as grpc.UntypedServiceImplementation);
}
