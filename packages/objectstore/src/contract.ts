/**
 * The ObjectStore contract: behaviour every backend (local directory, S3) must show, as jest `describe`/`it`
 * blocks. A backend's test file calls `objectStoreContract('s3', make)`. The suite uses jest's globals (no import of
 * '@jest/globals'), so importing this module outside jest is harmless as long as the function is not called.
 * Every test works under its own random key prefix, so a shared bucket does not disturb it.
 */
import type { ObjectStore } from './types';

export interface ObjectStoreHarness {
  store: ObjectStore;
  /** Closes whichever store instance is current and removes the test's data. */
  cleanup(): Promise<void>;
  /** Closes the current store and opens a new instance over the same data. */
  reopen?(): Promise<ObjectStore>;
}

export type ObjectStoreFactory = () => Promise<ObjectStoreHarness>;

export interface ObjectStoreContractOptions {
  /** Whether the harness offers `reopen` (the persistence test is skipped otherwise). Default true. */
  reopen?: boolean;
  /** Per-test timeout, ms. Default 30000. */
  timeoutMs?: number;
}

export function objectStoreContract(name: string, make: ObjectStoreFactory, options: ObjectStoreContractOptions = {}): void {
  const timeout = options.timeoutMs ?? 30_000;

  describe(`ObjectStore contract: ${name}`, () => {
    let harness: ObjectStoreHarness;
    let store: ObjectStore;
    /** This test's key prefix. */
    let p: string;

    beforeEach(async () => {
      harness = await make();
      store = harness.store;
      p = `contract-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}/`;
    });

    afterEach(async () => {
      try {
        await store.deletePrefix(p);
      } catch {
        // the store may be closed already; cleanup removes the data anyway
      }
      await harness.cleanup();
    });

    it(
      'put then get returns the same bytes; a second put replaces the whole object',
      async () => {
        const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
        await store.put(`${p}bin`, binary);
        await store.put(`${p}empty`, Buffer.alloc(0));
        expect((await store.get(`${p}bin`)).equals(binary)).toBe(true);
        expect((await store.get(`${p}empty`)).length).toBe(0);

        await store.put(`${p}bin`, Buffer.from('short'));
        expect((await store.get(`${p}bin`)).toString()).toBe('short');
      },
      timeout,
    );

    it(
      'stores a multi-megabyte object intact',
      async () => {
        const big = Buffer.alloc(3 * 1024 * 1024 + 17);
        for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff;
        await store.put(`${p}big`, big);
        const back = await store.get(`${p}big`);
        expect(back.length).toBe(big.length);
        expect(back.equals(big)).toBe(true);
      },
      timeout,
    );

    it(
      'get of a missing key throws IoFailed naming the key',
      async () => {
        const key = `${p}no/such/object`;
        await expect(store.get(key)).rejects.toMatchObject({ name: 'KiteError', kind: 'IoFailed' });
        await expect(store.get(key)).rejects.toThrow(key);
        await store.put(`${p}no/such/other`, Buffer.from('x'));
        await expect(store.get(`${p}no/such`)).rejects.toMatchObject({ kind: 'IoFailed' });
      },
      timeout,
    );

    it(
      'exists tells objects from missing keys and from "directories"',
      async () => {
        await store.put(`${p}d/e/f`, Buffer.from('1'));
        expect(await store.exists(`${p}d/e/f`)).toBe(true);
        expect(await store.exists(`${p}d/e`)).toBe(false);
        expect(await store.exists(`${p}d/e/f/g`)).toBe(false);
        expect(await store.exists(`${p}nothing`)).toBe(false);
      },
      timeout,
    );

    it(
      'list returns the objects under a prefix, recursively, sorted by key, with sizes',
      async () => {
        const objects: Record<string, number> = {
          'seg/1/col_0': 10,
          'seg/1/col_1': 0,
          'seg/12/col_0': 3,
          'seg/2/a/b/c': 7,
          'seg-x': 1,
          'other/z': 2,
        };
        await Promise.all(Object.entries(objects).map(([k, n]) => store.put(`${p}${k}`, Buffer.alloc(n, 1))));
        const rel = async (prefix: string): Promise<Array<[string, number]>> =>
          (await store.list(`${p}${prefix}`)).map((o) => [o.key.slice(p.length), o.size]);

        expect(await rel('')).toEqual([
          ['other/z', 2],
          ['seg-x', 1],
          ['seg/1/col_0', 10],
          ['seg/1/col_1', 0],
          ['seg/12/col_0', 3],
          ['seg/2/a/b/c', 7],
        ]);
        expect((await rel('seg/')).map(([k]) => k)).toEqual(['seg/1/col_0', 'seg/1/col_1', 'seg/12/col_0', 'seg/2/a/b/c']);
        // A prefix may end inside a name, as in S3.
        expect((await rel('seg/1')).map(([k]) => k)).toEqual(['seg/1/col_0', 'seg/1/col_1', 'seg/12/col_0']);
        expect((await rel('seg')).map(([k]) => k)).toEqual(['seg-x', 'seg/1/col_0', 'seg/1/col_1', 'seg/12/col_0', 'seg/2/a/b/c']);
        expect((await rel('seg/1/col_1')).map(([k]) => k)).toEqual(['seg/1/col_1']);
        expect(await rel('nothing/')).toEqual([]);
        expect(await rel('seg/9')).toEqual([]);
      },
      timeout,
    );

    it(
      'delete removes one object, leaves its neighbours, and is a no-op for a missing key',
      async () => {
        await store.put(`${p}a/1`, Buffer.from('1'));
        await store.put(`${p}a/2`, Buffer.from('2'));
        await store.delete(`${p}a/1`);
        expect(await store.exists(`${p}a/1`)).toBe(false);
        expect((await store.get(`${p}a/2`)).toString()).toBe('2');
        await store.delete(`${p}a/1`);
        await store.delete(`${p}never/was`);
        await store.delete(`${p}a/2`);
        expect(await store.list(`${p}a/`)).toEqual([]);
        // The emptied "directory" can be written again.
        await store.put(`${p}a/3`, Buffer.from('3'));
        expect((await store.list(`${p}a/`)).map((o) => o.key)).toEqual([`${p}a/3`]);
      },
      timeout,
    );

    it(
      'deletePrefix removes exactly the objects under the prefix and counts them',
      async () => {
        for (const k of ['x/1', 'x/2/deep', 'x/3', 'xy', 'y']) await store.put(`${p}${k}`, Buffer.from(k));
        expect(await store.deletePrefix(`${p}x/`)).toBe(3);
        expect((await store.list(p)).map((o) => o.key.slice(p.length))).toEqual(['xy', 'y']);
        expect(await store.deletePrefix(`${p}x/`)).toBe(0);
        expect(await store.deletePrefix(`${p}x`)).toBe(1);
        expect((await store.list(p)).map((o) => o.key.slice(p.length))).toEqual(['y']);
      },
      timeout,
    );

    it(
      'puts are atomic: concurrent writers and readers of one key only ever see whole objects',
      async () => {
        const key = `${p}contended`;
        const versions = Array.from({ length: 8 }, (_, i) => Buffer.alloc(256 * 1024 + i, i + 1));
        await store.put(key, versions[0] as Buffer);
        const seen: Buffer[] = [];
        let writing = true;
        const reader = (async () => {
          while (writing) seen.push(await store.get(key));
        })();
        await Promise.all(versions.map((v) => store.put(key, v)));
        writing = false;
        await reader;
        const whole = (b: Buffer): boolean => versions.some((v) => v.equals(b));
        expect(seen.length).toBeGreaterThan(0);
        for (const b of seen) expect(whole(b)).toBe(true);
        expect(whole(await store.get(key))).toBe(true);
        expect((await store.list(key)).map((o) => o.key)).toEqual([key]);
      },
      timeout,
    );

    (options.reopen === false ? it.skip : it)(
      'a reopened store has every object put before',
      async () => {
        if (!harness.reopen) throw new Error('the harness has no reopen(): pass { reopen: false } to skip this test');
        await Promise.all(Array.from({ length: 20 }, (_, i) => store.put(`${p}r/${i}`, Buffer.from(`v${i}`))));
        await store.delete(`${p}r/3`);
        store = await harness.reopen();
        const listed = await store.list(`${p}r/`);
        expect(listed).toHaveLength(19);
        for (let i = 0; i < 20; i++) {
          if (i === 3) expect(await store.exists(`${p}r/3`)).toBe(false);
          else expect((await store.get(`${p}r/${i}`)).toString()).toBe(`v${i}`);
        }
      },
      timeout,
    );
  });
}
