import type { CollectionMeta, SegmentMeta } from '@kite/segment';
import { LoadLimiter, segmentLoadBytes } from './load-limit';

/** A load that resolves when the test releases it; records what the limiter had running when it started. */
function harness(limiter: LoadLimiter) {
  const started: number[] = [];
  const release = new Map<number, () => void>();
  let maxLoads = 0;
  let maxBytes = 0;
  const load = (id: number, bytes: number): Promise<number> =>
    limiter.run(bytes, async () => {
      started.push(id);
      maxLoads = Math.max(maxLoads, limiter.running.loads);
      maxBytes = Math.max(maxBytes, limiter.running.bytes);
      await new Promise<void>((r) => release.set(id, r));
      return id;
    });
  const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
  return { started, release, load, settle, max: () => ({ loads: maxLoads, bytes: maxBytes }) };
}

test('loads run in parallel up to the concurrency bound, and no further', async () => {
  const limiter = new LoadLimiter(3, 1000);
  const h = harness(limiter);
  const all = Array.from({ length: 8 }, (_, i) => h.load(i, 10));
  await h.settle();
  expect(h.started).toEqual([0, 1, 2]);
  expect(limiter.running).toEqual({ loads: 3, bytes: 30, queued: 5 });
  // Each finished load lets exactly one more start, in order.
  for (let next = 3; next < 8; next++) {
    h.release.get(next - 3)!();
    await h.settle();
    expect(h.started).toEqual(Array.from({ length: next + 1 }, (_, i) => i));
  }
  for (const id of [5, 6, 7]) h.release.get(id)!();
  expect(await Promise.all(all)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  expect(h.max().loads).toBe(3);
  expect(limiter.running).toEqual({ loads: 0, bytes: 0, queued: 0 });
});

test('the bytes in flight stay within the budget; a load larger than the budget runs alone', async () => {
  const limiter = new LoadLimiter(8, 100);
  const h = harness(limiter);
  const sizes = [40, 40, 40, 150, 30, 30];
  const all = sizes.map((b, i) => h.load(i, b));
  await h.settle();
  // 40 + 40 fit, the third 40 would make 120 > 100: it waits, and the loads behind it wait too (FIFO).
  expect(h.started).toEqual([0, 1]);
  h.release.get(0)!();
  await h.settle();
  expect(h.started).toEqual([0, 1, 2]);
  h.release.get(1)!();
  h.release.get(2)!();
  await h.settle();
  // 150 exceeds the whole budget: it starts once nothing else runs, and nothing joins it.
  expect(h.started).toEqual([0, 1, 2, 3]);
  expect(limiter.running).toEqual({ loads: 1, bytes: 150, queued: 2 });
  h.release.get(3)!();
  await h.settle();
  expect(h.started).toEqual([0, 1, 2, 3, 4, 5]);
  h.release.get(4)!();
  h.release.get(5)!();
  await Promise.all(all);
  // Beyond the oversized load running alone, the budget was never passed.
  expect(h.max().bytes).toBe(150);
  expect(limiter.running).toEqual({ loads: 0, bytes: 0, queued: 0 });
});

test('a failed load gives its slot and bytes back', async () => {
  const limiter = new LoadLimiter(1, 100);
  await expect(limiter.run(60, () => Promise.reject(new Error('object store down')))).rejects.toThrow('object store down');
  expect(limiter.running).toEqual({ loads: 0, bytes: 0, queued: 0 });
  await expect(limiter.run(100, () => Promise.resolve('ok'))).resolves.toBe('ok');
});

test('a segment load is estimated from its rows, the schema and its index files', () => {
  const field = (name: string, dataType: string, typeParams: Record<string, string> = {}) =>
    ({ fieldID: 0, name, dataType, isPrimaryKey: name === 'id', autoID: false, description: '', typeParams, isDynamic: false, isPartitionKey: false, nullable: false });
  const coll = { fields: [field('id', 'Int64'), field('vector', 'FloatVector', { dim: '128' })] } as unknown as CollectionMeta;
  const meta = { numRows: 1000, indexes: [{ fieldName: 'vector', indexID: 1, key: 'idx/1', bytes: 140_000 }, { fieldName: 'vector', indexID: 2, key: '', bytes: 0 }] } as unknown as SegmentMeta;
  // (16 row id/timestamp + 8 id + 512 vector) bytes a row, plus the index file.
  expect(segmentLoadBytes(meta, coll)).toBe(1000 * (16 + 8 + 512) + 140_000);
});
