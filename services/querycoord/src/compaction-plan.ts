import type { CompactionType, SegmentMeta } from '@kite/segment';

/** What a plan is made of: a run of a channel's segments, rewritten together. */
export interface PlannedGroup {
  type: CompactionType;
  sources: number[];
  why: string;
}

export interface PlanOptions {
  deleteRatio: number;
  smallSegmentRows: number;
  minSmallSegments: number;
  maxSegmentRows: number;
}

/**
 * Segments that cover the same offsets (the results of one plan) form a unit: a plan takes all of a unit or none,
 * so the channel's units always tile its offsets.
 */
interface Unit {
  start: number;
  end: number;
  segs: SegmentMeta[];
  rows: number;
}

export function unitsOf(channelSegs: readonly SegmentMeta[]): Unit[] {
  const byRange = new Map<string, Unit>();
  for (const s of channelSegs) {
    const k = `${s.startOffset}-${s.endOffset}`;
    let u = byRange.get(k);
    if (!u) byRange.set(k, (u = { start: s.startOffset, end: s.endOffset, segs: [], rows: 0 }));
    u.segs.push(s);
    u.rows += s.numRows;
  }
  return [...byRange.values()].sort((a, b) => a.start - b.start || a.end - b.end);
}

/** Maximal runs of units, contiguous in offsets, none holding a segment in `busy` (a plan executing on it). */
export function freeRuns(channelSegs: readonly SegmentMeta[], busy: ReadonlySet<number>): Unit[][] {
  const runs: Unit[][] = [];
  let cur: Unit[] = [];
  for (const u of unitsOf(channelSegs)) {
    const free = !u.segs.some((s) => busy.has(s.segmentID));
    const joins = cur.length > 0 && cur[cur.length - 1]!.end === u.start;
    if (!free || !joins) {
      if (cur.length) runs.push(cur);
      cur = [];
    }
    if (free) cur.push(u);
  }
  if (cur.length) runs.push(cur);
  return runs;
}

/**
 * Deletes consumed where they may still hit the segment's rows: a delete only hides rows with an older timestamp,
 * so those consumed before the segment's start cannot, nor those a compaction already applied to it.
 */
export function pendingDeletes(s: SegmentMeta, channelSegs: readonly SegmentMeta[]): number {
  const from = s.compaction ? s.compaction.deltasUpTo : s.startOffset;
  let n = 0;
  for (const o of channelSegs) if (o.startOffset >= from) n += o.numDeletes;
  return n;
}

/**
 * The share of the segment's rows hidden at `cut` (truncate, TTL), estimated from its timestamp range as if its
 * rows were spread evenly over it: 1 when every row is hidden, 0 when none is or the range is not known.
 */
export function expiredShare(s: Pick<SegmentMeta, 'numRows' | 'minTs' | 'maxTs'>, cut: bigint | undefined): number {
  if (cut === undefined || s.numRows === 0) return 0;
  const max = BigInt(s.maxTs || '0');
  if (max <= cut) return 1;
  if (s.minTs === undefined) return 0;
  const min = BigInt(s.minTs);
  if (min > cut) return 0;
  return Number(cut - min) / Number(max - min);
}

const ids = (us: readonly Unit[]): number[] => us.flatMap((u) => u.segs.map((s) => s.segmentID)).sort((a, b) => a - b);

const isClustered = (u: Unit): boolean => u.segs.some((s) => s.compaction?.type === 'clustering');

/** Splits a run into consecutive pieces of at most `max` rows (a unit larger than that is a piece of its own). */
function chunks(run: readonly Unit[], max: number): Unit[][] {
  const out: Unit[][] = [];
  let cur: Unit[] = [];
  let rows = 0;
  for (const u of run) {
    if (cur.length && rows + u.rows > max) {
      out.push(cur);
      cur = [];
      rows = 0;
    }
    cur.push(u);
    rows += u.rows;
  }
  if (cur.length) out.push(cur);
  return out;
}

/** Whether rewriting the unit alone would drop rows: deletes may hit it, or some of its rows are hidden. */
function purgeable(u: Unit, channelSegs: readonly SegmentMeta[], cut: bigint | undefined): boolean {
  return u.segs.some((s) => s.numRows > 0 && (pendingDeletes(s, channelSegs) > 0 || expiredShare(s, cut) > 0));
}

/**
 * A manual compaction of one channel: mix merges every free run into pieces of at most maxSegmentRows (a piece
 * that is one unit with nothing to purge is left alone); clustering rewrites each free run holding rows as one
 * plan, range-partitioned by the clustering key.
 */
export function planManual(channelSegs: readonly SegmentMeta[], busy: ReadonlySet<number>, clustering: boolean, cut: bigint | undefined, opts: PlanOptions): PlannedGroup[] {
  const out: PlannedGroup[] = [];
  for (const run of freeRuns(channelSegs, busy)) {
    if (clustering) {
      if (run.some((u) => u.rows > 0)) out.push({ type: 'clustering', sources: ids(run), why: 'manual clustering' });
      continue;
    }
    for (const piece of chunks(run, opts.maxSegmentRows)) {
      if (piece.length === 1 && (piece[0]!.segs.length === 1 || isClustered(piece[0]!)) && !purgeable(piece[0]!, channelSegs, cut)) continue;
      if (piece.every((u) => u.rows === 0) && piece.length === 1) continue;
      // A clustered unit merged with others would lose its key ranges: it is rewritten alone, as clustering.
      if (piece.length === 1 && isClustered(piece[0]!)) out.push({ type: 'clustering', sources: ids(piece), why: 'manual purge of clustered segments' });
      else out.push({ type: 'mix', sources: ids(piece), why: 'manual' });
    }
  }
  return out;
}

/**
 * Automatic compaction of one channel: a unit whose pending deletes or expired rows reach deleteRatio of its rows
 * is rewritten (a clustered unit as clustering, so it keeps its key ranges); runs of at least minSmallSegments
 * small units (fewer than smallSegmentRows rows each, delete-only ones included) are merged.
 */
export function planAuto(channelSegs: readonly SegmentMeta[], busy: ReadonlySet<number>, cut: bigint | undefined, opts: PlanOptions): PlannedGroup[] {
  const out: PlannedGroup[] = [];
  for (const run of freeRuns(channelSegs, busy)) {
    const taken = new Set<Unit>();
    for (const u of run) {
      if (u.rows === 0) continue;
      const deleted = u.segs.reduce((n, s) => n + Math.min(s.numRows, pendingDeletes(s, channelSegs)), 0) / u.rows;
      const expired = u.segs.reduce((n, s) => n + s.numRows * expiredShare(s, cut), 0) / u.rows;
      if (deleted < opts.deleteRatio && expired < opts.deleteRatio) continue;
      taken.add(u);
      const why = deleted >= opts.deleteRatio ? `deleted share ${deleted.toFixed(2)}` : `expired share ${expired.toFixed(2)}`;
      out.push({ type: isClustered(u) ? 'clustering' : 'mix', sources: ids([u]), why });
    }
    let small: Unit[] = [];
    const flush = (): void => {
      if (small.length >= opts.minSmallSegments) {
        for (const piece of chunks(small, opts.maxSegmentRows)) if (piece.length > 1) out.push({ type: 'mix', sources: ids(piece), why: `${piece.length} small segments` });
      }
      small = [];
    };
    for (const u of run) {
      if (!taken.has(u) && u.segs.length === 1 && u.rows < opts.smallSegmentRows) small.push(u);
      else flush();
    }
    flush();
  }
  return out;
}
