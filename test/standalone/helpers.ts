/**
 * Data and checks shared by the standalone end-to-end tests: a seeded generator, clustered float32 vectors, a
 * brute-force k-NN with Milvus's score conventions, and status assertions that name the request that failed.
 */
import type { MilvusClient, ResStatus } from '@zilliz/milvus2-sdk-node';

export type Metric = 'L2' | 'IP' | 'COSINE';

/** mulberry32: small, fast, seeded; the same seed gives the same data on every run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal sample (Box-Muller). */
function gauss(next: () => number): number {
  const u = Math.max(next(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
}

/**
 * `n` vectors of `dim` float32 values drawn around `clusters` random centres (clustered data is what IVF indexes
 * are meant for; uniform noise would make every ANN index look bad). Values are rounded to float32 so that the
 * server's copy and ours are equal bit for bit.
 */
export function clusteredVectors(n: number, dim: number, seed: number, clusters = 24, spread = 0.15): number[][] {
  const next = rng(seed);
  const centres: number[][] = [];
  for (let c = 0; c < clusters; c++) centres.push(Array.from({ length: dim }, () => next() * 2 - 1));
  const out: number[][] = [];
  for (let i = 0; i < n; i++) {
    const centre = centres[Math.floor(next() * clusters)] ?? centres[0]!;
    out.push(centre.map((x) => Math.fround(x + gauss(next) * spread)));
  }
  return out;
}

/** Query vectors near existing rows (a query far from all data says little about recall). */
export function queriesNear(data: number[][], count: number, seed: number, noise = 0.05): number[][] {
  const next = rng(seed);
  const out: number[][] = [];
  for (let q = 0; q < count; q++) {
    const base = data[Math.floor(next() * data.length)] ?? data[0]!;
    out.push(base.map((x) => Math.fround(x + gauss(next) * noise)));
  }
  return out;
}

function dot(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Milvus's score for a metric: squared Euclidean distance for L2, inner product for IP, cosine similarity for COSINE. */
export function score(metric: Metric, a: number[], b: number[]): number {
  if (metric === 'IP') return dot(a, b);
  if (metric === 'COSINE') return dot(a, b) / (Math.sqrt(dot(a, a)) * Math.sqrt(dot(b, b)) || 1);
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    s += d * d;
  }
  return s;
}

export interface Neighbour {
  id: string;
  score: number;
}

/** The exact top `k` (after skipping `offset`) of `rows` for `query`, only rows that pass `keep`. */
export function bruteForce<R extends { id: string | number; vector: number[] }>(
  metric: Metric,
  rows: Iterable<R>,
  query: number[],
  k: number,
  offset = 0,
  keep: (row: R) => boolean = () => true,
): Neighbour[] {
  const all: Neighbour[] = [];
  for (const row of rows) {
    if (keep(row)) all.push({ id: String(row.id), score: score(metric, query, row.vector) });
  }
  all.sort((a, b) => (metric === 'L2' ? a.score - b.score : b.score - a.score));
  return all.slice(offset, offset + k);
}

/** |A ∩ B| / |B|: the share of the true neighbours `truth` that the server returned. */
export function recall(returned: string[], truth: string[]): number {
  if (truth.length === 0) return 1;
  const got = new Set(returned);
  return truth.filter((id) => got.has(id)).length / truth.length;
}

export function isSuccess(status: Pick<ResStatus, 'error_code' | 'code'> | undefined): boolean {
  if (!status) return false;
  return status.error_code === 'Success' && (status.code === undefined || Number(status.code) === 0);
}

/** Fails with the request name and the server's reason unless the status is a success. */
export function expectOk(status: ResStatus | undefined, what: string): void {
  if (!isSuccess(status)) {
    throw new Error(`${what} failed: ${JSON.stringify(status)}`);
  }
}

/** Returns `{status}` or the response itself when it is a bare status (as some SDK calls return). */
export function statusOf(res: unknown): ResStatus | undefined {
  if (res && typeof res === 'object') {
    const r = res as { status?: ResStatus; error_code?: string };
    if (r.status && typeof r.status === 'object') return r.status;
    if (typeof r.error_code === 'string') return r as unknown as ResStatus;
  }
  return undefined;
}

export interface ErrorOutcome {
  /** 'server': an error status came back; 'thrown': the SDK threw (its message, or the status it threw). */
  kind: 'server' | 'thrown';
  message: string;
}

/**
 * Runs an SDK call that must fail. The call fails either with an error status from the server, or by throwing;
 * the Node SDK throws some statuses itself (createCollection, loadCollection, insert after DescribeCollection
 * failed). A gRPC-level failure (UNAVAILABLE, INTERNAL: the server crashed or broke the connection) is not an
 * acceptable outcome and fails the test.
 */
export async function expectFailure(what: string, call: () => Promise<unknown>): Promise<ErrorOutcome> {
  let res: unknown;
  try {
    res = await call();
  } catch (err) {
    const thrownStatus = statusOf(err);
    if (thrownStatus) {
      if (isSuccess(thrownStatus)) throw new Error(`${what}: threw a success status ${JSON.stringify(err)}`);
      return { kind: 'server', message: thrownStatus.reason || thrownStatus.detail || JSON.stringify(thrownStatus) };
    }
    const e = err as { code?: number; details?: string; message?: string };
    if (typeof e.code === 'number' && e.code !== 0 && typeof e.details === 'string') {
      throw new Error(`${what}: the call failed at the gRPC level (code ${e.code}: ${e.details}), not with a status`);
    }
    return { kind: 'thrown', message: String(e.message ?? err) };
  }
  const status = statusOf(res);
  if (isSuccess(status)) throw new Error(`${what}: expected an error, got success: ${JSON.stringify(res).slice(0, 500)}`);
  if (!status) throw new Error(`${what}: expected an error status, got ${JSON.stringify(res).slice(0, 500)}`);
  if (!status.reason) throw new Error(`${what}: the error status has no reason: ${JSON.stringify(status)}`);
  return { kind: 'server', message: status.reason };
}

/** Polls until `check` holds (or throws its last failure after `timeoutMs`). */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = 'never checked';
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
      last = 'condition not met';
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not reached after ${timeoutMs} ms (${last})`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Waits until describeIndex reports every row of the field indexed (Milvus builds indexes asynchronously). */
/** Flushes a collection and waits until every segment the flush sealed is persisted (GetFlushState). */
export async function flushAndWait(client: MilvusClient, collection: string, timeoutMs = 60_000): Promise<void> {
  const flush = await client.flush({ collection_names: [collection] });
  expectOk(flush.status, 'flush');
  const segIDs = Object.values(flush.coll_segIDs as Record<string, { data: string[] }>).flatMap((v) => v.data);
  await eventually(
    `${collection} flushed`,
    async () => {
      const st = await client.getFlushState({ segmentIDs: segIDs as unknown as number[] });
      expectOk(st.status, 'getFlushState');
      return st.flushed ? true : undefined;
    },
    timeoutMs,
  );
}

export async function waitIndexBuilt(client: MilvusClient, collection: string, field: string, timeoutMs = 90_000): Promise<void> {
  await eventually(
    `index on ${collection}.${field} built`,
    async () => {
      const res = await client.describeIndex({ collection_name: collection, field_name: field });
      expectOk(res.status, `describeIndex(${collection})`);
      const d = res.index_descriptions[0];
      if (!d) return undefined;
      if (d.state === 'Failed') throw new Error(`index build failed: ${d.index_state_fail_reason}`);
      return d.state === 'Finished' && Number(d.pending_index_rows ?? 0) === 0 ? true : undefined;
    },
    timeoutMs,
  );
}

/** A dynamic key of a returned row: the SDK puts it at the top level, or under `$meta` when `*` was asked. */
export function dynamicValue(row: Record<string, unknown>, key: string): unknown {
  if (key in row) return row[key];
  const meta = row.$meta;
  if (meta && typeof meta === 'object') return (meta as Record<string, unknown>)[key];
  return undefined;
}

export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
