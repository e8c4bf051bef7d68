import { counter, gauge, histogram } from '@kite/observe';
import { channelName, type ChannelRef, type SubscribeOptions, type Subscription, type Wal, type WalMessage, type WalRecord } from '@kite/wal';

const produced = counter('kite_wal_produced_messages_total', 'messages appended to the WAL', ['channel']);
const producedBytes = counter('kite_wal_produced_bytes_total', 'bytes appended to the WAL', ['channel']);
const appendLatency = histogram('kite_wal_append_duration_seconds', 'WAL append latency (until durable)', []);
const consumed = counter('kite_wal_consumed_messages_total', 'messages consumed from the WAL', ['channel']);
const lag = gauge('kite_wal_consume_lag_messages', 'messages between a subscription and the channel end', ['channel']);

/**
 * A WAL that measures itself: produce and consume rates per channel, append latency, and each subscription's lag
 * (the channel's end offset minus the next offset it will deliver), refreshed every `wal.lagIntervalMs`.
 */
export class MeteredWal implements Wal {
  private readonly positions = new Map<string, { ref: ChannelRef; next: number; count: number }>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly inner: Wal, lagIntervalMs: number) {
    this.timer = setInterval(() => void this.refreshLag(), lagIntervalMs);
    this.timer.unref();
  }

  private async refreshLag(): Promise<void> {
    for (const [name, p] of this.positions) {
      const end = await this.inner.endOffset(p.ref).catch(() => undefined);
      if (end !== undefined) lag.set({ channel: name }, Math.max(0, end - p.next));
    }
  }

  createTopic(topic: string, partitions: number): Promise<void> {
    return this.inner.createTopic(topic, partitions);
  }

  deleteTopic(topic: string): Promise<void> {
    return this.inner.deleteTopic(topic);
  }

  async append(channel: ChannelRef, messages: WalMessage[]): Promise<number[]> {
    const end = appendLatency.startTimer();
    const offsets = await this.inner.append(channel, messages);
    end();
    const name = channelName(channel);
    produced.inc({ channel: name }, messages.length);
    producedBytes.inc({ channel: name }, messages.reduce((s, m) => s + m.value.length, 0));
    return offsets;
  }

  endOffset(channel: ChannelRef): Promise<number> {
    return this.inner.endOffset(channel);
  }

  read(channel: ChannelRef, from: number, max: number): Promise<WalRecord[]> {
    return this.inner.read(channel, from, max);
  }

  subscribe(channel: ChannelRef, from: number, handler: (records: WalRecord[]) => Promise<void>, options?: SubscribeOptions): Subscription {
    const name = channelName(channel);
    const pos = this.positions.get(name) ?? { ref: channel, next: from, count: 0 };
    pos.count++;
    pos.next = from;
    this.positions.set(name, pos);
    const sub = this.inner.subscribe(
      channel,
      from,
      async (records) => {
        await handler(records);
        consumed.inc({ channel: name }, records.length);
        const last = records[records.length - 1];
        if (last) pos.next = last.offset + 1;
      },
      options,
    );
    return {
      close: async () => {
        await sub.close();
        if (--pos.count === 0) {
          this.positions.delete(name);
          lag.remove({ channel: name });
        }
      },
    };
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.inner.close();
  }
}
