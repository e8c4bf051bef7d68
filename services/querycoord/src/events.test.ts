import { EventLog } from './events';

describe('EventLog', () => {
  test('keeps the newest events up to its capacity, oldest first, numbered in order', () => {
    let now = 1000;
    const log = new EventLog(3, () => now++);
    for (let i = 1; i <= 5; i++) log.record('node-joined', `node ${i}`, { node: i });
    const all = log.recent();
    expect(all.map((e) => e.message)).toEqual(['node 3', 'node 4', 'node 5']);
    expect(all.map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(all.map((e) => e.atMs)).toEqual([1002, 1003, 1004]);
    expect(all[0]).toMatchObject({ kind: 'node-joined', nodeId: 3, collectionId: 0 });
  });

  test('recent(max) gives the newest max; fewer than capacity are all kept', () => {
    const log = new EventLog(10);
    log.record('node-lost', 'a', { node: 7 });
    log.record('segment-moved', 'b', { node: 8, collection: 42 });
    log.record('delegator-rebuilt', 'c');
    expect(log.recent(2).map((e) => e.message)).toEqual(['b', 'c']);
    expect(log.recent(0)).toEqual([]);
    expect(log.recent().map((e) => e.kind)).toEqual(['node-lost', 'segment-moved', 'delegator-rebuilt']);
    expect(log.recent()[1]).toMatchObject({ nodeId: 8, collectionId: 42 });
  });

  test('a capacity that is not a positive integer is refused', () => {
    expect(() => new EventLog(0)).toThrow(/positive integer/);
    expect(() => new EventLog(1.5)).toThrow(/positive integer/);
  });
});
