// Deterministic clustered data for the recall tests and the benchmark (not part of the public API).

/** mulberry32: small, fast, seedable. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(next: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const v = spare;
      spare = undefined;
      return v;
    }
    let u = 0;
    while (u === 0) u = next();
    const r = Math.sqrt(-2 * Math.log(u));
    const a = 2 * Math.PI * next();
    spare = r * Math.sin(a);
    return r * Math.cos(a);
  };
}

export interface Clustered {
  centers: Float32Array;
  /** n*dim points: a random center plus gaussian noise. */
  points(n: number, seed: number): Float32Array;
}

/** `clusters` centers with coordinates N(0,1); points scatter around them with N(0, spread^2). */
export function clustered(dim: number, clusters: number, seed: number, spread = 0.35): Clustered {
  const g = gaussian(rng(seed));
  const centers = new Float32Array(clusters * dim);
  for (let i = 0; i < centers.length; i++) centers[i] = g();
  return {
    centers,
    points(n: number, pseed: number): Float32Array {
      const r = rng(pseed);
      const pg = gaussian(rng(pseed ^ 0x5bd1e995));
      const out = new Float32Array(n * dim);
      for (let i = 0; i < n; i++) {
        const c = Math.floor(r() * clusters);
        for (let j = 0; j < dim; j++) out[i * dim + j] = centers[c * dim + j]! + spread * pg();
      }
      return out;
    },
  };
}

export function sequentialIds(n: number, start = 0): BigInt64Array {
  const ids = new BigInt64Array(n);
  for (let i = 0; i < n; i++) ids[i] = BigInt(start + i);
  return ids;
}

/** Fraction of the true top-k ids (per row) found in the answer's top-k; rows with fewer true ids count those. */
export function recallAtK(truth: BigInt64Array, got: BigInt64Array, nq: number, k: number): number {
  let hit = 0;
  let total = 0;
  for (let i = 0; i < nq; i++) {
    const want = new Set<bigint>();
    for (let j = 0; j < k; j++) {
      const t = truth[i * k + j]!;
      if (t >= 0n) want.add(t);
    }
    total += want.size;
    for (let j = 0; j < k; j++) if (want.has(got[i * k + j]!)) hit++;
  }
  return total === 0 ? 1 : hit / total;
}

export type BruteMetric = 'L2' | 'IP' | 'COSINE';

function normalizeRows(x: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length / dim; i++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += x[i * dim + j]! * x[i * dim + j]!;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < dim; j++) out[i * dim + j] = x[i * dim + j]! * inv;
  }
  return out;
}

/** Squared L2 distance between row `a` of `x` and row `b` of `y` (rows of `dim` floats), in plain JS. */
export function squaredL2(x: Float32Array, a: number, y: Float32Array, b: number, dim: number): number {
  let s = 0;
  for (let j = 0; j < dim; j++) {
    const d = x[a * dim + j]! - y[b * dim + j]!;
    s += d * d;
  }
  return s;
}

/**
 * Exact top-k in plain JS (an oracle independent of faiss). Scores as Milvus reports them: squared L2 ascending,
 * IP and cosine similarity descending. `allowed(row)` restricts the candidates; ids are `ids[row]` (default: row).
 */
export function bruteForce(
  base: Float32Array, queries: Float32Array, dim: number, k: number, metric: BruteMetric,
  allowed?: (row: number) => boolean, ids?: BigInt64Array,
): { distances: Float32Array; ids: BigInt64Array } {
  const n = base.length / dim;
  const nq = queries.length / dim;
  const b = metric === 'COSINE' ? normalizeRows(base, dim) : base;
  const q = metric === 'COSINE' ? normalizeRows(queries, dim) : queries;
  const larger = metric !== 'L2';
  const outD = new Float32Array(nq * k).fill(larger ? -Infinity : Infinity);
  const outI = new BigInt64Array(nq * k).fill(-1n);
  const scores = new Float64Array(n);
  for (let i = 0; i < nq; i++) {
    const rows: number[] = [];
    for (let r = 0; r < n; r++) {
      if (allowed && !allowed(r)) continue;
      let s = 0;
      if (metric === 'L2') s = squaredL2(q, i, b, r, dim);
      else for (let j = 0; j < dim; j++) s += q[i * dim + j]! * b[r * dim + j]!;
      scores[r] = s;
      rows.push(r);
    }
    rows.sort((x, y) => (larger ? scores[y]! - scores[x]! : scores[x]! - scores[y]!));
    for (let j = 0; j < Math.min(k, rows.length); j++) {
      const r = rows[j]!;
      outD[i * k + j] = scores[r]!;
      outI[i * k + j] = ids ? ids[r]! : BigInt(r);
    }
  }
  return { distances: outD, ids: outI };
}

/** A bitmap allowing each row with probability `fraction` (bit i: byte i>>3, bit i&7). */
export function randomBitmap(n: number, fraction: number, seed: number): Uint8Array {
  const r = rng(seed);
  const bits = new Uint8Array(Math.ceil(n / 8));
  for (let i = 0; i < n; i++) if (r() < fraction) bits[i >> 3]! |= 1 << (i & 7);
  return bits;
}

export function bitSet(bits: Uint8Array, id: number | bigint): boolean {
  const i = Number(id);
  return i >= 0 && (i >> 3) < bits.length && ((bits[i >> 3]! >> (i & 7)) & 1) === 1;
}
