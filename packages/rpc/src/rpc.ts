import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { KiteError, listenFailed, toKiteError, type ErrorKind } from '@kite/common';
import { internalCallAllowed, internalMetadata, internalRefusal } from './security';
import { serviceMetrics, unaryInvoker, type CallContext } from './unary';
import { callLocal, localBinding, messageConverter, registerLocal, type LocalBinding, type LocalRegistration } from './local';
import type { DataNodeApi, QueryCoordApi, QueryNodeApi, Status } from './messages';

/** Repo's proto/ directory, found from this file in src/ (jest) or dist/ (built). */
export const PROTO_ROOT = path.resolve(__dirname, '..', '..', '..', 'proto');

export const MAX_MESSAGE_BYTES = 512 << 20;

/**
 * Channel options for every internal client and server: large messages (grpc-js defaults to 4 MiB), keep-alive
 * pings so a dead peer is found within seconds, and servers that accept those pings.
 */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  'grpc.keepalive_time_ms': 5000,
  'grpc.keepalive_timeout_ms': 3000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 4000,
  'grpc.http2.max_pings_without_data': 0,
  'grpc.initial_reconnect_backoff_ms': 200,
  'grpc.max_reconnect_backoff_ms': 2000,
};

export const SERVER_OPTIONS: grpc.ServerOptions = {
  ...CHANNEL_OPTIONS,
  'grpc.http2.min_ping_interval_without_data_ms': 1000,
  'grpc.keepalive_permit_without_calls': 1,
};

type ServiceName = 'QueryCoord' | 'QueryNode' | 'DataNode';
interface ApiOf {
  QueryCoord: QueryCoordApi;
  QueryNode: QueryNodeApi;
  DataNode: DataNodeApi;
}

let loaded: grpc.GrpcObject | undefined;
let definition: protoLoader.PackageDefinition | undefined;
function internalPackage(): grpc.GrpcObject {
  if (!loaded) {
    const def = (definition = protoLoader.loadSync(path.join(PROTO_ROOT, 'kite', 'internal.proto'), {
      keepCase: true,
      longs: Number,
      enums: String,
      defaults: true,
      arrays: true,
      oneofs: true,
      bytes: Buffer,
    }));
    loaded = grpc.loadPackageDefinition(def);
  }
  return loaded;
}

function serviceCtor(name: ServiceName): grpc.ServiceClientConstructor {
  const pkg = (internalPackage().kite as grpc.GrpcObject).internal as grpc.GrpcObject;
  return pkg[name] as grpc.ServiceClientConstructor;
}

export const OK_STATUS: Status = { code: 0, kind: '', reason: '', retriable: false };

export function toStatus(e: unknown): Status {
  const k = toKiteError(e);
  return { code: k.code || 5, kind: k.kind, reason: k.message, retriable: k.retriable };
}

export function fromStatus(s: Status | undefined): KiteError | undefined {
  if (!s || (s.code === 0 && !s.kind)) return undefined;
  const kind = (s.kind || 'Internal') as ErrorKind;
  return new KiteError(kind, s.reason, { retriable: s.retriable });
}

/**
 * Registers `impl` on `server` through the shared unary wrapper (unary.ts): a thrown error becomes the response's
 * status, never a crashed call; calls are counted and timed as `kite_<service>_requests_total` and
 * `kite_<service>_request_duration_seconds`. Handlers get the call's context (deadline: the client's) as a second
 * argument.
 */
export function addService<S extends ServiceName>(server: grpc.Server, name: S, impl: ApiOf[S]): void {
  const ctor = serviceCtor(name);
  const metrics = serviceMetrics(name.toLowerCase(), { requests: `${name} internal RPCs by method and status code`, latency: `${name} internal RPC latency` });
  const handlers: grpc.UntypedServiceImplementation = {};
  const local = new Map<string, LocalBinding>();
  for (const method of Object.keys(ctor.service)) {
    const fn = (impl as unknown as Record<string, ((req: unknown, ctx: CallContext) => Promise<unknown>) | undefined>)[method];
    if (typeof fn !== 'function') continue;
    const invoke = unaryInvoker(method, (req: unknown, ctx: CallContext) => fn.call(impl, req, ctx), {
      metrics,
      errorResponse: (err) => ({ status: toStatus(err) }),
    });
    // The cluster secret is checked before anything else: a call without it never reaches the component.
    const guarded: grpc.handleUnaryCall<unknown, unknown> = (call, cb) => {
      if (!internalCallAllowed(call.metadata)) {
        metrics.requests.inc({ method, status: 'unauthenticated' });
        cb(internalRefusal(name, method));
        return;
      }
      void invoke(call.request, call.getDeadline(), call.metadata).then((res) => cb(null, res));
    };
    handlers[method] = guarded;
    local.set(method, { invoke, ...messageConverters(name, method) });
  }
  server.addService(ctor.service, handlers);
  let services = servedBy.get(server);
  if (!services) servedBy.set(server, (services = new Map()));
  services.set(name, local);
}

/** The in-process bindings of the internal services added to each server (addService), for serveInProcess. */
const servedBy = new WeakMap<grpc.Server, Map<string, Map<string, LocalBinding>>>();

/** The request and response conversions of `name.method` for in-process calls (local.ts). */
function messageConverters(name: ServiceName, method: string): Pick<LocalBinding, 'request' | 'response'> {
  const def = serviceCtor(name).service[method] as unknown as { requestType: { type: { name: string } }; responseType: { type: { name: string } } };
  const types = definition as unknown as Record<string, { type?: never } | undefined>;
  const full = (t: { type: { name: string } }): string => `kite.internal.${t.type.name}`;
  return { request: messageConverter(types, full(def.requestType)), response: messageConverter(types, full(def.responseType)) };
}

/**
 * Makes the internal services added to `server` (addService) callable in process at `address` (the advertised
 * address clients are given): clients of this process call the handlers directly (local.ts), other processes
 * still use the gRPC port. `close(force)` withdraws them when the server stops (`force`: calls in flight fail with
 * NodeOffline, as forceShutdown cancels them).
 */
export function serveInProcess(server: grpc.Server, address: string): LocalRegistration | undefined {
  const services = servedBy.get(server);
  return services ? registerLocal(address, services) : undefined;
}

/**
 * Binds `host:port` (0: any free port) with `credentials` (default: plaintext, for internal ports, whose calls the
 * cluster secret guards) and returns the bound port; a failure is a `ListenFailed` naming both.
 */
export async function bindServer(server: grpc.Server, host: string, port: number, credentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, credentials, (err, bound) =>
      err ? reject(listenFailed(host, port, err)) : resolve(bound),
    );
  });
}

export interface CallOptions {
  timeoutMs?: number;
  /** Aborting it cancels the call (gRPC CANCELLED to the server); the promise then rejects as a transport failure. */
  signal?: AbortSignal;
}

export type Client<T> = {
  [K in keyof T]: T[K] extends (r: infer Req) => Promise<infer Res> ? (r: Req, o?: CallOptions) => Promise<Res> : never;
} & { readonly address: string; close(): void; channelState(): grpc.connectivityState };

const TRANSPORT_CODES = new Set([grpc.status.UNAVAILABLE, grpc.status.CANCELLED, grpc.status.UNKNOWN, grpc.status.INTERNAL]);

/**
 * A promise client. Transport failures become retriable `NodeOffline` errors naming the address; a non-zero status
 * in the response becomes the KiteError it carries. Calls carry this process's cluster secret (`opts.secret`: another
 * one, e.g. to check that a server refuses it).
 */
export function connect<S extends ServiceName>(name: S, address: string, defaultTimeoutMs = 30000, opts: { secret?: string } = {}): Client<ApiOf[S]> {
  const ctor = serviceCtor(name);
  const raw = new ctor(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS) as unknown as Record<
    string,
    (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: unknown) => void) => void
  > & grpc.Client;
  const client: Record<string, unknown> = {
    address,
    close: () => raw.close(),
    channelState: () => raw.getChannel().getConnectivityState(false),
  };
  for (const method of Object.keys(ctor.service)) {
    const names = { service: name, method, address };
    client[method] = (req: unknown, o?: CallOptions) => {
      const timeoutMs = o?.timeoutMs ?? defaultTimeoutMs;
      // The server lives in this process: call its handler directly (local.ts). A call with another secret than
      // this process's always goes over gRPC, where the secret is checked.
      const local = opts.secret === undefined ? localBinding(address, name, method) : undefined;
      if (local) return callLocal(local, names, req, timeoutMs, internalMetadata(), fromStatus as (s: unknown) => KiteError | undefined);
      return new Promise((resolve, reject) => {
        const deadline = Date.now() + timeoutMs;
        const call = raw[method]!.call(raw, req, internalMetadata(opts.secret), { deadline }, (err, res) => {
          if (err) {
            if (err.code === grpc.status.DEADLINE_EXCEEDED) {
              reject(new KiteError('DeadlineExceeded', `${name}.${method} at ${address} timed out`, { cause: err }));
            } else if (TRANSPORT_CODES.has(err.code)) {
              reject(new KiteError('NodeOffline', `${name} at ${address} unreachable: ${err.details || err.message}`, { cause: err }));
            } else reject(new KiteError('Internal', `${name}.${method} at ${address}: ${err.message}`, { cause: err }));
            return;
          }
          const failure = fromStatus((res as { status?: Status }).status);
          if (failure) reject(failure);
          else resolve(res);
        }) as unknown as grpc.ClientUnaryCall | undefined;
        const signal = o?.signal;
        if (signal) {
          if (signal.aborted) call?.cancel();
          else signal.addEventListener('abort', () => call?.cancel(), { once: true });
        }
      });
    };
  }
  return client as Client<ApiOf[S]>;
}
