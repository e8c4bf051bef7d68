import { composeTs } from '@kite/common';
import { hiddenUpTo, skipSegment } from './visibility';

describe('hiddenUpTo', () => {
  const now = 1_800_000_000_000;
  it('hides nothing without truncate or TTL', () => {
    expect(hiddenUpTo({ properties: {} }, now)).toBeUndefined();
    expect(hiddenUpTo({ properties: { 'collection.ttl.seconds': '0' } }, now)).toBeUndefined();
  });
  it('hides rows at or below the truncate timestamp', () => {
    expect(hiddenUpTo({ properties: {}, truncatedTs: '12345' }, now)).toBe(12345n);
  });
  it('hides rows older than the TTL, and takes the later of the two cuts', () => {
    const cut = composeTs(now - 60_000, 0);
    expect(hiddenUpTo({ properties: { 'collection.ttl.seconds': '60' } }, now)).toBe(cut);
    expect(hiddenUpTo({ properties: { 'collection.ttl.seconds': '60' }, truncatedTs: String(cut + 5n) }, now)).toBe(cut + 5n);
    expect(hiddenUpTo({ properties: { 'collection.ttl.seconds': '60' }, truncatedTs: String(cut - 5n) }, now)).toBe(cut);
  });
});

describe('skipSegment', () => {
  const seg = { maxTs: '100', numRows: 5, partitionIDs: [1, 3] };
  it('skips a segment holding none of the partitions read', () => {
    expect(skipSegment(seg, { partitions: new Set([2]) })).toBe(true);
    expect(skipSegment(seg, { partitions: new Set([2, 3]) })).toBe(false);
    expect(skipSegment(seg, {})).toBe(false);
    expect(skipSegment({ maxTs: '100', numRows: 5 }, { partitions: new Set([2]) })).toBe(false);
  });
  it('skips a segment whose rows are all hidden', () => {
    expect(skipSegment(seg, { hiddenUpTo: 100n })).toBe(true);
    expect(skipSegment(seg, { hiddenUpTo: 99n })).toBe(false);
  });
});
