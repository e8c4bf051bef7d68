/**
 * In-process calls: when the server a client calls lives in the same process (standalone runs the coordinator, a
 * data node, a query node and the proxy in one), the client hands the request to the server's handler directly,
 * without gRPC, HTTP/2 or protobuf, but with the same semantics as the gRPC path:
 *
 * - the handler runs through the same wrapper as a gRPC call (unaryInvoker): same context and deadline, same server
 *   metrics, errors answered as a status that the client turns into the same KiteError (kind, message, retriable);
 * - the client gives up at its deadline with the same DeadlineExceeded (the handler's work goes on and its answer
 *   is dropped, as when gRPC cancels the call), and a server stopped with calls in flight fails them with the same
 *   retriable NodeOffline as a cancelled gRPC call;
 * - request and response are the objects protobuf would have produced: a new object per message holding exactly the
 *   fields of its message type, absent fields at their defaults, numbers converted as the wire would (int32, int64
 *   as Number, float rounded to 32 bits), arrays copied. Bytes fields are shared, not copied (a Uint8Array becomes a
 *   Buffer over the same memory): handlers and callers treat them as read-only.
 *
 * The caller's request is converted when the call is made (as gRPC serializes it then) and the handler runs on a
 * later microtask, never inside the caller's stack. The cluster secret is not checked: only this process reaches
 * the handler this way. A cluster process registers nothing (its components are reached over gRPC).
 */
import type * as grpc from '@grpc/grpc-js';
import { KiteError } from '@kite/common';

/** One method of a served service: the transport-free body of its handler (unaryInvoker). */
export type LocalMethod = (request: unknown, deadline: number, metadata: grpc.Metadata) => Promise<unknown>;

/** What a client needs to call a method in process: the handler and the conversions of both messages. */
export interface LocalBinding {
  invoke: LocalMethod;
  request: Convert;
  response: Convert;
}

type Convert = (v: unknown) => unknown;

interface Endpoint {
  /** service name -> method name -> binding */
  services: Map<string, Map<string, LocalBinding>>;
  /** Calls in flight, each with how to fail it when the server is stopped at once. */
  inflight: Set<(err: KiteError) => void>;
  /** Waiting for the calls in flight to end (LocalRegistration.idle). */
  idle: (() => void)[];
}

const endpoints = new Map<string, Endpoint>();

/** The binding of `service.method` served in this process at `address`, if any. */
export function localBinding(address: string, service: string, method: string): LocalBinding | undefined {
  return endpoints.get(address)?.services.get(service)?.get(method);
}

/**
 * Handle of a registration. `close(force)` withdraws it (new calls go over gRPC from then on); `force` fails the
 * calls in flight, as forceShutdown cancels gRPC calls. `idle()` resolves once no call is in flight (as tryShutdown
 * waits for gRPC calls).
 */
export interface LocalRegistration {
  close(force: boolean): void;
  idle(): Promise<void>;
}

/**
 * Makes `services` (service -> method -> binding) callable in process at `address`, the address its clients are
 * given (the advertised one). A later registration at the same address replaces it.
 */
export function registerLocal(address: string, services: Map<string, Map<string, LocalBinding>>): LocalRegistration {
  const ep: Endpoint = { services, inflight: new Set(), idle: [] };
  endpoints.set(address, ep);
  return {
    close(force: boolean): void {
      if (endpoints.get(address) === ep) endpoints.delete(address);
      if (!force) return;
      for (const fail of [...ep.inflight]) fail(new KiteError('NodeOffline', `server at ${address} unreachable: it was shut down with the call in flight`));
    },
    idle(): Promise<void> {
      return ep.inflight.size === 0 ? Promise.resolve() : new Promise((resolve) => ep.idle.push(resolve));
    },
  };
}

/**
 * Calls `b` in process as `service.method` at `address`, within `timeoutMs`; settles like the gRPC client: the
 * response, its status's KiteError (`fromStatus`), DeadlineExceeded at the deadline, NodeOffline when the server is
 * stopped at once meanwhile.
 */
export function callLocal(
  b: LocalBinding,
  names: { service: string; method: string; address: string },
  request: unknown,
  timeoutMs: number,
  metadata: grpc.Metadata,
  fromStatus: (s: unknown) => KiteError | undefined,
): Promise<unknown> {
  const deadline = Date.now() + timeoutMs;
  const ep = endpoints.get(names.address);
  return new Promise((resolve, reject) => {
    const timedOut = (): KiteError => new KiteError('DeadlineExceeded', `${names.service}.${names.method} at ${names.address} timed out`);
    if (timeoutMs <= 0) {
      reject(timedOut());
      return;
    }
    // Converted now, as gRPC serializes at the call: later changes to the caller's object do not reach the handler.
    const req = b.request(request);
    let settled = false;
    const finish = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      if (ep) {
        ep.inflight.delete(abort);
        if (ep.inflight.size === 0 && ep.idle.length > 0) for (const wake of ep.idle.splice(0)) wake();
      }
      return true;
    };
    const abort = (err: KiteError): void => {
      if (finish()) reject(new KiteError('NodeOffline', `${names.service} at ${names.address} unreachable: ${err.message}`, { cause: err }));
    };
    const timer = setTimeout(() => {
      if (finish()) reject(timedOut());
    }, timeoutMs);
    ep?.inflight.add(abort);
    queueMicrotask(() => {
      b.invoke(req, deadline, metadata).then((res) => {
        if (!finish()) return;
        const failure = fromStatus((res as { status?: unknown } | null)?.status);
        if (failure) reject(failure);
        else resolve(b.response(res));
      }, (e: unknown) => {
        // unaryInvoker never rejects; kept for safety, mapped as gRPC maps a failed server call.
        if (finish()) reject(new KiteError('Internal', `${names.service}.${names.method} at ${names.address}: ${String(e)}`, { cause: e }));
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------------- messages

/** The parts of a proto-loader message type description that the conversion reads. */
interface FieldDescriptor {
  name: string;
  label: string;
  type: string;
  typeName: string;
}
interface MessageDescriptor {
  name: string;
  field: FieldDescriptor[];
  nestedType?: MessageDescriptor[];
  options?: { mapEntry?: boolean } | null;
}

const EMPTY_BYTES = Buffer.alloc(0);

function toBuffer(v: unknown): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (typeof v === 'string') return Buffer.from(v, 'base64');
  if (Array.isArray(v)) return Buffer.from(v as number[]);
  return EMPTY_BYTES;
}

function toNumber64(v: unknown, unsigned = false): number {
  if (typeof v === 'number') return Math.trunc(v);
  if (typeof v === 'bigint') return Number(unsigned ? BigInt.asUintN(64, v) : BigInt.asIntN(64, v));
  const n = Number(v);
  return Number.isFinite(n) ? Math.trunc(n) : 0;
}

/** Converts one scalar of a field type as encoding then decoding it (longs: Number, bytes: Buffer) would. */
function scalar(type: string): [Convert, unknown] {
  switch (type) {
    case 'TYPE_INT64':
    case 'TYPE_SINT64':
    case 'TYPE_SFIXED64':
      return [(v) => toNumber64(v), 0];
    case 'TYPE_UINT64':
    case 'TYPE_FIXED64':
      return [(v) => toNumber64(v, true), 0];
    case 'TYPE_INT32':
    case 'TYPE_SINT32':
    case 'TYPE_SFIXED32':
      return [(v) => Number(v) | 0, 0];
    case 'TYPE_UINT32':
    case 'TYPE_FIXED32':
      return [(v) => Number(v) >>> 0, 0];
    case 'TYPE_FLOAT':
      return [(v) => Math.fround(Number(v)), 0];
    case 'TYPE_DOUBLE':
      return [(v) => Number(v), 0];
    case 'TYPE_BOOL':
      return [(v) => Boolean(v), false];
    case 'TYPE_STRING':
      return [(v) => String(v), ''];
    case 'TYPE_BYTES':
      return [toBuffer, EMPTY_BYTES];
    default:
      throw new Error(`in-process calls do not convert fields of ${type}`);
  }
}

/**
 * Builds the conversion of the message type `fullName` from the package definition's descriptors, for proto-loader
 * options keepCase, longs Number, enums String, defaults, arrays, bytes Buffer (the ones rpc.ts loads with).
 */
export function messageConverter(types: Record<string, { type?: MessageDescriptor } | undefined>, fullName: string): Convert {
  const cache = new Map<string, Convert>();
  const build = (name: string, desc: MessageDescriptor, scope: string): Convert => {
    const known = cache.get(name);
    if (known) return known;
    // Filled in below; messages may nest themselves, so the cache holds a forwarder first.
    let impl: Convert = () => undefined;
    const forward: Convert = (v) => impl(v);
    cache.set(name, forward);
    const nested = new Map((desc.nestedType ?? []).map((n) => [n.name, n] as const));
    const resolve = (typeName: string): { name: string; desc: MessageDescriptor } => {
      const bare = typeName.replace(/^\./, '');
      const inner = nested.get(bare);
      if (inner) return { name: `${name}.${bare}`, desc: inner };
      for (const cand of [bare, `${scope}.${bare}`]) {
        const t = types[cand]?.type;
        if (t) return { name: cand, desc: t };
      }
      throw new Error(`in-process calls: message type ${typeName} (in ${name}) not found`);
    };
    type Field = { name: string; convert: Convert; absent: () => unknown };
    const fields: Field[] = desc.field.map((f) => {
      const repeated = f.label === 'LABEL_REPEATED';
      if (f.type === 'TYPE_MESSAGE') {
        const target = resolve(f.typeName);
        if (target.desc.options?.mapEntry) {
          // Keys of a map are strings here (every map of internal.proto is keyed by string).
          const vf = target.desc.field.find((x) => x.name === 'value')!;
          const value = vf.type === 'TYPE_MESSAGE' ? build(resolve(vf.typeName).name, resolve(vf.typeName).desc, scope) : scalar(vf.type)[0];
          return {
            name: f.name,
            convert: (v) => {
              const out: Record<string, unknown> = {};
              if (v instanceof Map) for (const [k, x] of v) out[String(k)] = value(x);
              else if (v && typeof v === 'object') for (const k of Object.keys(v)) out[k] = value((v as Record<string, unknown>)[k]);
              return out;
            },
            absent: () => ({}),
          };
        }
        const msg = build(target.name, target.desc, scope);
        return repeated
          ? { name: f.name, convert: (v) => (Array.isArray(v) ? v.map(msg) : []), absent: () => [] }
          : { name: f.name, convert: msg, absent: () => null };
      }
      const [conv, def] = scalar(f.type);
      return repeated
        ? { name: f.name, convert: (v) => (Array.isArray(v) || ArrayBuffer.isView(v) ? Array.from(v as ArrayLike<unknown>, conv) : []), absent: () => [] }
        : { name: f.name, convert: conv, absent: () => def };
    });
    impl = (v: unknown): unknown => {
      const src = (v ?? {}) as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const f of fields) {
        const x = src[f.name];
        out[f.name] = x === undefined || x === null ? f.absent() : f.convert(x);
      }
      return out;
    };
    return forward;
  };
  const root = types[fullName]?.type;
  if (!root) throw new Error(`in-process calls: message type ${fullName} not found`);
  return build(fullName, root, fullName.slice(0, fullName.lastIndexOf('.')));
}
