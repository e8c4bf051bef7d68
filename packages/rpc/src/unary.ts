import type * as grpc from '@grpc/grpc-js';
import { KiteError, toKiteError } from '@kite/common';
import { counter, histogram } from '@kite/observe';

/** What every unary handler gets besides its request: the method, the time by which it must answer, the metadata. */
export interface CallContext {
  method: string;
  /** Epoch ms: the earlier of the client's gRPC deadline and the server-side bound (Infinity: neither). */
  deadline: number;
  metadata: grpc.Metadata;
}

/**
 * The deadline of a call: the client's gRPC deadline when it has one and it is sooner than now + `boundMs`, else
 * now + `boundMs` (Infinity without a bound). grpc-js reports "no deadline" as Infinity.
 */
export function requestDeadline(clientDeadline: Date | number | undefined, boundMs: number | undefined, now = Date.now()): number {
  const bound = boundMs === undefined ? Infinity : now + boundMs;
  const client = clientDeadline instanceof Date ? clientDeadline.getTime() : clientDeadline;
  return client !== undefined && Number.isFinite(client) && client < bound ? client : bound;
}

/** Milliseconds left before `deadline`, at least `floor` so that a last attempt still gets a chance to answer. */
export function remainingMs(deadline: number, floor = 1): number {
  return Math.max(floor, deadline - Date.now());
}

/** `work`, or the error `late()` makes once `ms` have passed (the work itself goes on; its result is dropped). */
async function raceTimer<T>(work: Promise<T>, ms: number, late: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** `work`, or a rejection "no <what> within N ms" once the deadline passes: for steps that name what did not answer. */
export function beforeDeadline<T>(work: Promise<T>, deadline: number, what: string): Promise<T> {
  const waitMs = remainingMs(deadline, 0);
  return raceTimer(work, waitMs, () => new Error(`no ${what} within ${waitMs} ms`));
}

/**
 * How long after the deadline the backstop in withDeadline fires: the steps of a call watch the deadline themselves
 * and fail naming what did not answer (a WAL channel, the coordinator, a shard); the backstop ends whatever did not.
 */
const BACKSTOP_GRACE_MS = 100;

/**
 * Races a whole call against its deadline: when it has not settled shortly after the deadline it fails with a
 * retriable DeadlineExceeded naming the call and the bound (the work may still complete; its result is dropped).
 */
export function withDeadline<T>(ctx: Pick<CallContext, 'method' | 'deadline'>, work: Promise<T>, boundName: string): Promise<T> {
  if (!Number.isFinite(ctx.deadline)) return work;
  return raceTimer(work, Math.max(0, ctx.deadline - Date.now()) + BACKSTOP_GRACE_MS, () =>
    new KiteError('DeadlineExceeded', `${ctx.method} did not finish before its deadline (the client's timeout or ${boundName}); it may still take effect`));
}

/** Request counter and latency histogram of one service, labelled by method (and status code for the counter). */
export interface ServiceMetrics {
  requests: { inc(labels: { method: string; status: string }): void };
  latency: { startTimer(labels: { method: string }): () => void };
}

/** `kite_<component>_requests_total` and `kite_<component>_request_duration_seconds`, with their help texts. */
export function serviceMetrics(component: string, help: { requests: string; latency: string }): ServiceMetrics {
  return {
    requests: counter(`kite_${component}_requests_total`, help.requests, ['method', 'status']),
    latency: histogram(`kite_${component}_request_duration_seconds`, help.latency, ['method']),
  };
}

export interface UnaryOptions<Res> {
  metrics: ServiceMetrics;
  /** The response that carries a failure (the error is already a KiteError). */
  errorResponse(err: KiteError): Res;
  /**
   * Server-side bound on the call in ms, and its name for the DeadlineExceeded message (e.g. "proxy.writeTimeoutMs =
   * 60000 ms"): the call fails once the earlier of this and the client's deadline has passed. None: the handler runs
   * until it settles (the client gives up at its own deadline).
   */
  bound?: { ms: number; name: string };
  /** Called with every failure before it is answered (e.g. to log internal errors). */
  onError?(method: string, err: KiteError): void;
}

/**
 * The body of every unary handler, independent of the transport: builds the call's context (method, deadline,
 * metadata), runs `fn` within the deadline, counts the call by method and status code and times it, and resolves
 * with the response, or with `errorResponse` for a thrown error (never rejects). The gRPC handler (unaryHandler)
 * and the in-process path (local.ts) both run it, so a call is bounded, counted and answered the same either way.
 */
export function unaryInvoker<Req, Res>(
  method: string,
  fn: (req: Req, ctx: CallContext) => Promise<Res>,
  opts: UnaryOptions<Res>,
): (request: Req, clientDeadline: Date | number | undefined, metadata: grpc.Metadata) => Promise<Res> {
  const { metrics, bound } = opts;
  return (request, clientDeadline, metadata) => {
    const end = metrics.latency.startTimer({ method });
    const ctx: CallContext = { method, deadline: requestDeadline(clientDeadline, bound?.ms), metadata };
    let work: Promise<Res>;
    try {
      work = withDeadline(ctx, fn(request, ctx), bound?.name ?? 'the server bound');
    } catch (err) {
      work = Promise.reject(err);
    }
    return work.then(
      (res) => {
        end();
        metrics.requests.inc({ method, status: '0' });
        return res;
      },
      (err: unknown) => {
        end();
        const k = toKiteError(err);
        metrics.requests.inc({ method, status: String(k.code) });
        opts.onError?.(method, k);
        return opts.errorResponse(k);
      },
    );
  };
}

/**
 * The one unary handler wrapper of every Kite gRPC server: it runs unaryInvoker's body for the call and answers a
 * thrown error with `errorResponse` (a Milvus or internal status), never with a failed call.
 */
export function unaryHandler<Req, Res>(
  method: string,
  fn: (req: Req, ctx: CallContext) => Promise<Res>,
  opts: UnaryOptions<Res>,
): grpc.handleUnaryCall<Req, Res> {
  const invoke = unaryInvoker(method, fn, opts);
  return (call, cb) => {
    void invoke(call.request, call.getDeadline(), call.metadata).then((res) => cb(null, res));
  };
}
