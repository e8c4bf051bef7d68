import { KiteError } from '@kite/common';
import type { Column } from '@kite/segment';

/** Splits `rows` (in order) into ceil(n / maxRows) consecutive pieces of near-equal size. */
export function chunkRows(rows: readonly number[], maxRows: number): number[][] {
  if (rows.length === 0) return [];
  const parts = Math.ceil(rows.length / Math.max(1, maxRows));
  const size = Math.ceil(rows.length / parts);
  const out: number[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

type KeyOf = (row: number) => bigint | number | string;

function keyReader(col: Column): KeyOf {
  switch (col.kind) {
    case 'int':
    case 'float':
    case 'int64':
      return (r) => col.data[r]!;
    case 'string':
      return (r) => col.data[r]!;
    default:
      throw new KiteError('ParameterInvalid', `a clustering key column of kind ${col.kind} cannot be range-partitioned: the key must be numeric or VarChar`);
  }
}

const compare = (a: bigint | number | string, b: bigint | number | string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Range partitioning by a key column: `rows` sorted by their key and cut into ceil(n / targetRows) pieces of
 * about equal size, each cut moved past a run of equal keys, so the pieces' key ranges do not overlap (a piece may
 * exceed targetRows when one key value holds more rows). NaN keys sort last. Returns the pieces in key order.
 */
export function rangePartition(col: Column, rows: readonly number[], targetRows: number): number[][] {
  if (rows.length === 0) return [];
  const key = keyReader(col);
  const isNaNKey = (r: number): boolean => {
    const k = key(r);
    return typeof k === 'number' && Number.isNaN(k);
  };
  const sorted = [...rows].sort((a, b) => {
    const na = isNaNKey(a);
    const nb = isNaNKey(b);
    if (na || nb) return na === nb ? a - b : na ? 1 : -1;
    return compare(key(a), key(b)) || a - b;
  });
  const parts = Math.ceil(sorted.length / Math.max(1, targetRows));
  const size = Math.ceil(sorted.length / parts);
  const out: number[][] = [];
  let start = 0;
  while (start < sorted.length) {
    let end = Math.min(sorted.length, start + size);
    const same = (i: number): boolean => {
      const na = isNaNKey(sorted[i - 1]!);
      const nb = isNaNKey(sorted[i]!);
      return na || nb ? na && nb : compare(key(sorted[i - 1]!), key(sorted[i]!)) === 0;
    };
    while (end < sorted.length && same(end)) end++;
    out.push(sorted.slice(start, end));
    start = end;
  }
  return out;
}
