import { KiteError } from '@kite/common';
import { TimestampAllocator } from './tso';

/** A fake oracle: strictly increasing like the coordinator's, counting its calls; `gate` holds calls until opened. */
class Oracle {
  calls = 0;
  last = 1000n;
  fail: Error | undefined;
  private gate: { promise: Promise<void>; open(): void } | undefined;

  hold(): void {
    let open = (): void => undefined;
    const promise = new Promise<void>((r) => (open = r));
    this.gate = { promise, open };
  }

  open(): void {
    this.gate?.open();
    this.gate = undefined;
  }

  readonly source = async (count: number): Promise<bigint> => {
    this.calls++;
    await this.gate?.promise;
    if (this.fail) throw this.fail;
    const start = this.last + 1n;
    this.last += BigInt(count);
    return start;
  };
}

const far = (): number => Date.now() + 10_000;

test('timestamps are strictly increasing within and across ranges, one oracle call per batch', async () => {
  const oracle = new Oracle();
  const tso = new TimestampAllocator(oracle.source, { batchSize: 10, maxAgeMs: 60_000 });
  const got: bigint[] = [];
  for (let i = 0; i < 35; i++) got.push(await tso.alloc(far()));
  for (let i = 1; i < got.length; i++) expect(got[i]! > got[i - 1]!).toBe(true);
  expect(oracle.calls).toBe(4);
  // Everything handed out is below what the oracle gives anyone afterwards.
  const later = await oracle.source(1);
  expect(got.every((t) => t < later)).toBe(true);
});

test('a range older than maxAgeMs is dropped: the next caller gets a fresh one', async () => {
  const oracle = new Oracle();
  let now = 0;
  const tso = new TimestampAllocator(oracle.source, { batchSize: 100, maxAgeMs: 50, now: () => now });
  const a = await tso.alloc(far());
  now = 50;
  const b = await tso.alloc(far());
  expect(b).toBe(a + 1n);
  expect(oracle.calls).toBe(1);
  now = 51;
  const c = await tso.alloc(far());
  expect(oracle.calls).toBe(2);
  expect(c).toBeGreaterThan(a + 99n); // the rest of the first range is skipped
});

test('maxAgeMs 0: every caller gets a timestamp asked for after it arrived, even within the same millisecond', async () => {
  const oracle = new Oracle();
  const tso = new TimestampAllocator(oracle.source, { batchSize: 100, maxAgeMs: 0, now: () => 0 });
  await tso.alloc(far());
  await tso.alloc(far());
  await tso.alloc(far());
  expect(oracle.calls).toBe(3);
  // A caller arriving while a refill is in flight does not take from that refill (asked for before it arrived):
  // it waits for one asked for after; callers arriving together share that one.
  oracle.hold();
  const early = tso.alloc(far());
  await Promise.resolve();
  const late = [tso.alloc(far()), tso.alloc(far())];
  const before = oracle.calls;
  oracle.open();
  const first = await early;
  // The oracle's answer to any call made once `late` had arrived is above `first`: `late` must not get timestamps
  // from `early`'s range.
  const got = await Promise.all(late);
  expect(oracle.calls).toBe(before + 1);
  expect(got[0]! > first + 99n && got[1]! > first + 99n).toBe(true);
  expect(got[0]).not.toBe(got[1]);
});

test('concurrent callers share one refill', async () => {
  const oracle = new Oracle();
  const tso = new TimestampAllocator(oracle.source, { batchSize: 100, maxAgeMs: 60_000 });
  oracle.hold();
  const waiting = Array.from({ length: 20 }, () => tso.alloc(far()));
  await new Promise((r) => setImmediate(r));
  expect(oracle.calls).toBe(1);
  oracle.open();
  const got = await Promise.all(waiting);
  expect(new Set(got.map(String)).size).toBe(20);
  expect(oracle.calls).toBe(1);
});

test('callers beyond one batch trigger the next refill after the first', async () => {
  const oracle = new Oracle();
  const tso = new TimestampAllocator(oracle.source, { batchSize: 3, maxAgeMs: 60_000 });
  const got = await Promise.all(Array.from({ length: 7 }, () => tso.alloc(far())));
  expect(new Set(got.map(String)).size).toBe(7);
  expect(oracle.calls).toBe(3);
});

test('a failing refill rejects every waiting caller with its error; the next call tries again', async () => {
  const oracle = new Oracle();
  const tso = new TimestampAllocator(oracle.source, { batchSize: 100, maxAgeMs: 60_000 });
  oracle.fail = new KiteError('ServiceUnavailable', 'the query coordinator did not answer before the deadline: test');
  oracle.hold();
  const waiting = Array.from({ length: 5 }, () => tso.alloc(far()).then(() => undefined, (e: unknown) => e));
  await new Promise((r) => setImmediate(r));
  oracle.open();
  const errs = await Promise.all(waiting);
  for (const e of errs) expect(e).toBe(oracle.fail);
  expect(oracle.calls).toBe(1);
  oracle.fail = undefined;
  await expect(tso.alloc(far())).resolves.toBeGreaterThan(1000n);
  expect(oracle.calls).toBe(2);
});
