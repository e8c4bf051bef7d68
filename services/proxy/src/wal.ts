import { KiteError, toKiteError } from '@kite/common';
import { channelName, type ChannelRef } from '@kite/wal';

/**
 * A WAL call's failure as the client sees it: a retriable error naming the channel and the cause (a WAL error that
 * is the caller's fault, such as a message over the size limit, passes through).
 */
export async function onWal<T>(ref: ChannelRef, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    const k = toKiteError(err);
    if (!k.retriable && k.kind !== 'Internal') throw k;
    throw new KiteError('ServiceUnavailable', `WAL channel ${channelName(ref)} unavailable: ${k.message}`, { cause: err, retriable: true });
  }
}
