/**
 * The WAL contract: behaviour every backend (embedded, Kafka) must show, as jest `describe`/`it` blocks. A backend's
 * test file calls `walContract('kafka', make)`. The suite uses jest's globals (no import of '@jest/globals'), so
 * importing this module outside jest is harmless as long as the function is not called.
 *
 * Every test uses its own random topic names. Offsets are only assumed to increase (Kafka may leave gaps), and a
 * fresh partition to start at 0; `read` may return fewer records than asked, so tests read in a loop.
 */
import type { ChannelRef, Wal, WalRecord } from './types';

export interface WalHarness {
  wal: Wal;
  /** Closes whichever WAL instance is current (after `reopen`, the new one) and removes the test's data. */
  cleanup(): Promise<void>;
  /** Closes the current WAL and opens a new instance over the same data (a new client for Kafka). */
  reopen?(): Promise<Wal>;
}

export type WalFactory = () => Promise<WalHarness>;

export interface WalContractOptions {
  /** Whether the harness offers `reopen` (the persistence test is skipped otherwise). Default true. */
  reopen?: boolean;
  /** Per-test timeout, ms. Default 30000. */
  timeoutMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Reads every record with offset in [from, until), in as many calls as the backend needs. */
async function readRange(wal: Wal, ch: ChannelRef, from: number, until: number): Promise<WalRecord[]> {
  const out: WalRecord[] = [];
  let next = from;
  while (next < until) {
    const batch = await wal.read(ch, next, until - next);
    if (batch.length === 0) throw new Error(`read(${next}) returned nothing before offset ${until}`);
    for (const r of batch) if (r.offset < until) out.push(r);
    next = (batch[batch.length - 1] as WalRecord).offset + 1;
  }
  return out;
}

const text = (r: WalRecord): string => r.value.toString('utf8');
const msg = (s: string, key?: string): { key?: string; value: Buffer } =>
  key === undefined ? { value: Buffer.from(s) } : { key, value: Buffer.from(s) };

function expectIncreasing(offsets: number[]): void {
  for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBeGreaterThan(offsets[i - 1] as number);
}

export function walContract(name: string, make: WalFactory, options: WalContractOptions = {}): void {
  const timeout = options.timeoutMs ?? 30_000;

  describe(`WAL contract: ${name}`, () => {
    let harness: WalHarness;
    let wal: Wal;
    let topicSeq = 0;
    const runId = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    /** A fresh topic name for this run. */
    const newTopic = (): string => `contract-${runId}-${topicSeq++}`;

    beforeEach(async () => {
      harness = await make();
      wal = harness.wal;
    });

    afterEach(async () => {
      await harness.cleanup();
    });

    it(
      'createTopic is idempotent, and every partition is an empty channel',
      async () => {
        const topic = newTopic();
        await wal.createTopic(topic, 3);
        await wal.createTopic(topic, 3);
        for (let partition = 0; partition < 3; partition++) {
          const ch = { topic, partition };
          expect(await wal.endOffset(ch)).toBe(0);
          expect(await wal.read(ch, 0, 10)).toEqual([]);
        }
      },
      timeout,
    );

    it(
      'append returns increasing offsets, one per message, and endOffset moves past them',
      async () => {
        const ch = { topic: newTopic(), partition: 0 };
        await wal.createTopic(ch.topic, 1);
        const all: number[] = [];
        for (const n of [1, 3, 1, 5, 2]) {
          const offsets = await wal.append(
            ch,
            Array.from({ length: n }, (_, i) => msg(`m${all.length + i}`)),
          );
          expect(offsets).toHaveLength(n);
          all.push(...offsets);
        }
        expectIncreasing(all);
        expect(all[0]).toBeGreaterThanOrEqual(0);
        expect(await wal.endOffset(ch)).toBeGreaterThan(all[all.length - 1] as number);
        expect(await wal.append(ch, [])).toEqual([]);
      },
      timeout,
    );

    it(
      'read returns the records from an offset on, in order, never more than max',
      async () => {
        const ch = { topic: newTopic(), partition: 0 };
        await wal.createTopic(ch.topic, 1);
        const offsets = await wal.append(
          ch,
          Array.from({ length: 20 }, (_, i) => msg(`r${i}`, i % 2 === 0 ? `k${i}` : undefined)),
        );
        const end = await wal.endOffset(ch);
        const all = await readRange(wal, ch, offsets[0] as number, end);
        expect(all.map((r) => r.offset)).toEqual(offsets);
        expect(all.map(text)).toEqual(Array.from({ length: 20 }, (_, i) => `r${i}`));
        expect(all.map((r) => r.key)).toEqual(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? `k${i}` : undefined)));

        const some = await wal.read(ch, offsets[5] as number, 3);
        expect(some.length).toBeGreaterThanOrEqual(1);
        expect(some.length).toBeLessThanOrEqual(3);
        expect(some.map(text)).toEqual(['r5', 'r6', 'r7'].slice(0, some.length));
        expect(some[0]?.offset).toBe(offsets[5]);

        expect(await wal.read(ch, end, 10)).toEqual([]);
        expect(await wal.read(ch, end + 100, 10)).toEqual([]);
      },
      timeout,
    );

    it(
      'keys and values round-trip byte for byte',
      async () => {
        const ch = { topic: newTopic(), partition: 0 };
        await wal.createTopic(ch.topic, 1);
        const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
        const big = Buffer.alloc(512 * 1024, 7);
        big[big.length - 1] = 1;
        const msgs = [
          { value: Buffer.alloc(0) },
          { key: 'ünïcødé-κλειδί', value: binary },
          { key: '', value: Buffer.from('empty key') },
          { value: big },
        ];
        const offsets = await wal.append(ch, msgs);
        const got = await readRange(wal, ch, offsets[0] as number, (offsets[3] as number) + 1);
        expect(got).toHaveLength(4);
        expect(got[0]?.value.length).toBe(0);
        expect(got[0]?.key).toBeUndefined();
        expect(got[1]?.key).toBe('ünïcødé-κλειδί');
        expect(Buffer.compare(got[1]?.value as Buffer, binary)).toBe(0);
        expect(got[2]?.key).toBe('');
        expect(Buffer.compare(got[3]?.value as Buffer, big)).toBe(0);
      },
      timeout,
    );

    it(
      'subscribe from an offset delivers the history, then the live tail, in order with no gap or duplicate',
      async () => {
        const ch = { topic: newTopic(), partition: 0 };
        await wal.createTopic(ch.topic, 1);
        const history = await wal.append(ch, Array.from({ length: 30 }, (_, i) => msg(`h${i}`)));
        const got: WalRecord[] = [];
        const errors: Error[] = [];
        const sub = wal.subscribe(ch, history[10] as number, async (records) => {
          got.push(...records);
        }, { onError: (e) => errors.push(e) });
        try {
          await waitFor(() => got.length >= 20, 10_000, 'history');
          const live = await Promise.all(
            Array.from({ length: 8 }, (_, a) => wal.append(ch, Array.from({ length: 5 }, (_, i) => msg(`l${a}-${i}`)))),
          );
          await waitFor(() => got.length >= 60, 10_000, 'live records');
          await sleep(100);
          const expected = new Map<number, string>();
          history.slice(10).forEach((o, i) => expected.set(o, `h${i + 10}`));
          live.forEach((offs, a) => offs.forEach((o, i) => expected.set(o, `l${a}-${i}`)));
          const expectedOffsets = [...expected.keys()].sort((x, y) => x - y);
          expect(got.map((r) => r.offset)).toEqual(expectedOffsets);
          expect(got.map(text)).toEqual(expectedOffsets.map((o) => expected.get(o)));
          expect(errors).toEqual([]);
        } finally {
          await sub.close();
        }
      },
      timeout,
    );

    it(
      'subscribe from the end offset sees only records appended later, with low latency',
      async () => {
        const ch = { topic: newTopic(), partition: 0 };
        await wal.createTopic(ch.topic, 1);
        await wal.append(ch, [msg('old-1'), msg('old-2')]);
        const got: WalRecord[] = [];
        const sub = wal.subscribe(ch, await wal.endOffset(ch), async (records) => {
          got.push(...records);
        });
        try {
          await sleep(200);
          expect(got).toEqual([]);
          const t0 = Date.now();
          const [o] = await wal.append(ch, [msg('new')]);
          await waitFor(() => got.length === 1, 5000, 'the new record');
          const latency = Date.now() - t0;
          expect(got[0]?.offset).toBe(o);
          expect(text(got[0] as WalRecord)).toBe('new');
          expect(latency).toBeLessThan(2000);
        } finally {
          await sub.close();
        }
      },
      timeout,
    );

    it(
      'a slow handler applies back-pressure: the next batch waits for its promise',
      async () => {
        const ch = { topic: newTopic(), partition: 0 };
        await wal.createTopic(ch.topic, 1);
        const first = await wal.append(ch, [msg('a0'), msg('a1'), msg('a2')]);
        let inFlight = 0;
        let maxInFlight = 0;
        let calls = 0;
        const got: string[] = [];
        let release!: () => void;
        const gate = new Promise<void>((r) => (release = r));
        const sub = wal.subscribe(ch, first[0] as number, async (records) => {
          calls++;
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          if (calls === 1) await gate;
          await sleep(1);
          got.push(...records.map(text));
          inFlight--;
        });
        try {
          await waitFor(() => calls === 1, 5000, 'first batch');
          await wal.append(ch, Array.from({ length: 20 }, (_, i) => msg(`b${i}`)));
          await sleep(300);
          expect(calls).toBe(1);
          expect(got).toEqual([]);
          release();
          await waitFor(() => got.length === 23, 5000, 'all records after release');
          expect(maxInFlight).toBe(1);
          expect(got).toEqual(['a0', 'a1', 'a2', ...Array.from({ length: 20 }, (_, i) => `b${i}`)]);
        } finally {
          release();
          await sub.close();
        }
      },
      timeout,
    );

    it(
      'maxBatch bounds the records per handler call',
      async () => {
        const ch = { topic: newTopic(), partition: 0 };
        await wal.createTopic(ch.topic, 1);
        const offsets = await wal.append(ch, Array.from({ length: 50 }, (_, i) => msg(`m${i}`)));
        const sizes: number[] = [];
        const got: string[] = [];
        const sub = wal.subscribe(
          ch,
          offsets[0] as number,
          async (records) => {
            sizes.push(records.length);
            got.push(...records.map(text));
          },
          { maxBatch: 7 },
        );
        try {
          await waitFor(() => got.length === 50, 5000, '50 records');
          expect(Math.max(...sizes)).toBeLessThanOrEqual(7);
          expect(got).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
        } finally {
          await sub.close();
        }
      },
      timeout,
    );

    it(
      'close waits for the running handler, then nothing more is delivered',
      async () => {
        const ch = { topic: newTopic(), partition: 0 };
        await wal.createTopic(ch.topic, 1);
        const [o] = await wal.append(ch, [msg('one')]);
        let started = false;
        let finished = false;
        let calls = 0;
        const sub = wal.subscribe(ch, o as number, async () => {
          calls++;
          started = true;
          await sleep(300);
          finished = true;
        });
        await waitFor(() => started, 5000, 'handler start');
        await sub.close();
        expect(finished).toBe(true);
        await wal.append(ch, [msg('two')]);
        await sleep(300);
        expect(calls).toBe(1);
      },
      timeout,
    );

    it(
      'a handler that throws is told through onError and gets the same records again',
      async () => {
        const ch = { topic: newTopic(), partition: 0 };
        await wal.createTopic(ch.topic, 1);
        const offsets = await wal.append(ch, [msg('x0'), msg('x1'), msg('x2')]);
        const errors: Error[] = [];
        const delivered: number[][] = [];
        let failures = 0;
        const sub = wal.subscribe(
          ch,
          offsets[0] as number,
          async (records) => {
            delivered.push(records.map((r) => r.offset));
            if (failures < 2) {
              failures++;
              throw new Error('handler failed');
            }
          },
          { onError: (e) => errors.push(e) },
        );
        try {
          await waitFor(
            () => delivered.length >= 3 && delivered.slice(2).flat().includes(offsets[2] as number),
            10_000,
            'redelivery',
          );
          await sleep(100);
          expect(errors.map((e) => e.message)).toEqual(['handler failed', 'handler failed']);
          // Every batch after a failure starts where the failed one did.
          expect(delivered[0]?.[0]).toBe(offsets[0]);
          expect(delivered[1]?.[0]).toBe(offsets[0]);
          expect(delivered[2]?.[0]).toBe(offsets[0]);
          const afterFailures = delivered.slice(2).flat();
          expect(afterFailures).toEqual(offsets);
        } finally {
          await sub.close();
        }
      },
      timeout,
    );

    it(
      'channels are independent: partitions and topics keep their own records and offsets',
      async () => {
        const topic = newTopic();
        const other = newTopic();
        await wal.createTopic(topic, 3);
        await wal.createTopic(other, 1);
        const chs: ChannelRef[] = [0, 1, 2].map((partition) => ({ topic, partition }));
        chs.push({ topic: other, partition: 0 });
        const counts = [5, 1, 0, 3];
        const seen = chs.map(() => [] as string[]);
        const subs = chs.map((ch, i) =>
          wal.subscribe(ch, 0, async (records) => {
            seen[i]?.push(...records.map(text));
          }),
        );
        try {
          await Promise.all(
            chs.map((ch, i) =>
              wal.append(
                ch,
                Array.from({ length: counts[i] as number }, (_, j) => msg(`${ch.topic.slice(-2)}#${ch.partition}:${j}`)),
              ),
            ),
          );
          for (const [i, ch] of chs.entries()) {
            const expected = Array.from({ length: counts[i] as number }, (_, j) => `${ch.topic.slice(-2)}#${ch.partition}:${j}`);
            const end = await wal.endOffset(ch);
            expect(end).toBeGreaterThanOrEqual(counts[i] as number);
            expect((await readRange(wal, ch, 0, end)).map(text)).toEqual(expected);
            await waitFor(() => (seen[i]?.length ?? 0) >= expected.length, 5000, `subscriber ${i}`);
          }
          await sleep(100);
          chs.forEach((ch, i) =>
            expect(seen[i]).toEqual(Array.from({ length: counts[i] as number }, (_, j) => `${ch.topic.slice(-2)}#${ch.partition}:${j}`)),
          );
        } finally {
          await Promise.all(subs.map((s) => s.close()));
        }
      },
      timeout,
    );

    it(
      '32 concurrent appenders: every offset distinct, every record readable at its offset, order kept per append',
      async () => {
        const ch = { topic: newTopic(), partition: 0 };
        await wal.createTopic(ch.topic, 1);
        const byOffset = new Map<number, string>();
        await Promise.all(
          Array.from({ length: 32 }, async (_, a) => {
            let last = -1;
            for (let i = 0; i < 8; i++) {
              const offsets = await wal.append(ch, [msg(`w${a}-${i}-0`), msg(`w${a}-${i}-1`)]);
              expectIncreasing(offsets);
              expect(offsets[0]).toBeGreaterThan(last);
              last = offsets[1] as number;
              offsets.forEach((o, j) => byOffset.set(o, `w${a}-${i}-${j}`));
            }
          }),
        );
        expect(byOffset.size).toBe(32 * 8 * 2);
        const sorted = [...byOffset.keys()].sort((x, y) => x - y);
        const records = await readRange(wal, ch, sorted[0] as number, (sorted[sorted.length - 1] as number) + 1);
        expect(records.map((r) => r.offset)).toEqual(sorted);
        for (const r of records) expect(text(r)).toBe(byOffset.get(r.offset));
      },
      timeout,
    );

    (options.reopen === false ? it.skip : it)(
      'a reopened WAL keeps every acknowledged record and continues the offsets',
      async () => {
        if (!harness.reopen) throw new Error('the harness has no reopen(): pass { reopen: false } to skip this test');
        const topic = newTopic();
        await wal.createTopic(topic, 2);
        const chs = [0, 1].map((partition) => ({ topic, partition }));
        const acked = new Map<string, number>();
        await Promise.all(
          Array.from({ length: 16 }, async (_, a) => {
            for (let i = 0; i < 5; i++) {
              const ch = chs[(a + i) % 2] as ChannelRef;
              const [o] = await wal.append(ch, [msg(`p${ch.partition}-${a}-${i}`)]);
              acked.set(`p${ch.partition}-${a}-${i}`, o as number);
            }
          }),
        );
        const ends = await Promise.all(chs.map((ch) => wal.endOffset(ch)));

        wal = await harness.reopen();
        await wal.createTopic(topic, 2); // still there: a no-op
        for (const [p, ch] of chs.entries()) {
          const end = await wal.endOffset(ch);
          expect(end).toBeGreaterThanOrEqual(ends[p] as number);
          const records = await readRange(wal, ch, 0, end);
          const mine = [...acked.entries()].filter(([v]) => v.startsWith(`p${p}-`));
          expect(records).toHaveLength(mine.length);
          for (const [v, o] of mine) expect(records.find((r) => r.offset === o)?.value.toString()).toBe(v);
          const [next] = await wal.append(ch, [msg('after reopen')]);
          expect(next).toBeGreaterThanOrEqual(end);
        }
      },
      timeout,
    );
  });
}
