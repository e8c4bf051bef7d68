import * as grpc from '@grpc/grpc-js';
import { KiteError } from '@kite/common';
import { requestDeadline, unaryHandler, type CallContext, type ServiceMetrics } from './unary';

/** Metrics that record what the wrapper counted. */
function recorder(): ServiceMetrics & { counted: string[]; timed: number } {
  const m = {
    counted: [] as string[],
    timed: 0,
    requests: { inc: (l: { method: string; status: string }) => void m.counted.push(`${l.method}:${l.status}`) },
    latency: { startTimer: () => () => void m.timed++ },
  };
  return m;
}

/** Calls a wrapped handler as grpc-js would and resolves with what it answered. */
function invoke<Req, Res>(h: grpc.handleUnaryCall<Req, Res>, request: Req, deadline: number = Infinity): Promise<Res> {
  return new Promise((resolve, reject) => {
    const call = { request, getDeadline: () => deadline, metadata: new grpc.Metadata() } as unknown as grpc.ServerUnaryCall<Req, Res>;
    h(call, (err, res) => (err ? reject(err) : resolve(res as Res)));
  });
}

test('the deadline is the sooner of the client deadline and the bound', () => {
  expect(requestDeadline(Infinity, 1000, 5000)).toBe(6000);
  expect(requestDeadline(5500, 1000, 5000)).toBe(5500);
  expect(requestDeadline(new Date(7000), 1000, 5000)).toBe(6000);
  expect(requestDeadline(Infinity, undefined, 5000)).toBe(Infinity);
});

test('answers, counts and times a call; the handler gets method and deadline', async () => {
  const metrics = recorder();
  let seen: CallContext | undefined;
  const h = unaryHandler('Echo', async (req: { x: number }, ctx) => ((seen = ctx), { y: req.x + 1 }), { metrics, errorResponse: () => ({ y: -1 }), bound: { ms: 5000, name: 'test bound' } });
  await expect(invoke(h, { x: 1 })).resolves.toEqual({ y: 2 });
  expect(seen?.method).toBe('Echo');
  expect(seen!.deadline - Date.now()).toBeGreaterThan(4000);
  expect(metrics.counted).toEqual(['Echo:0']);
  expect(metrics.timed).toBe(1);
});

test('a thrown error (also a synchronous one) becomes the error response, counted by its code', async () => {
  const metrics = recorder();
  const errors: string[] = [];
  const opts = { metrics, errorResponse: (e: KiteError) => ({ failed: e.kind }), onError: (_m: string, e: KiteError) => void errors.push(e.message) };
  const async = unaryHandler('A', async () => Promise.reject(new KiteError('CollectionNotFound', 'no such collection')), opts);
  const sync = unaryHandler('B', (() => {
    throw new Error('boom');
  }) as () => Promise<{ failed: string }>, opts);
  await expect(invoke(async, {})).resolves.toEqual({ failed: 'CollectionNotFound' });
  await expect(invoke(sync, {})).resolves.toEqual({ failed: 'Internal' });
  expect(metrics.counted[0]).toBe(`A:${new KiteError('CollectionNotFound', '').code}`);
  expect(errors).toEqual(['no such collection', 'boom']);
});

test('a call still running at its deadline is answered with a retriable DeadlineExceeded naming the bound', async () => {
  const metrics = recorder();
  const h = unaryHandler('Slow', () => new Promise<{ ok: boolean }>(() => undefined), {
    metrics,
    errorResponse: (e) => ({ ok: false, kind: e.kind, retriable: e.retriable, message: e.message }),
    bound: { ms: 100, name: 'proxy.writeTimeoutMs = 100 ms' },
  });
  const started = Date.now();
  const res = (await invoke(h, {})) as unknown as { kind: string; retriable: boolean; message: string };
  expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  expect(res).toMatchObject({ kind: 'DeadlineExceeded', retriable: true });
  expect(res.message).toContain('proxy.writeTimeoutMs = 100 ms');
});
