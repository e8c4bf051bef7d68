import { decodeBatch, encodeBatchAfter } from './codec';
import type { ColumnBatch } from './columns';

/**
 * Messages on a collection's WAL channels. Inserts carry a ColumnBatch with `$pk`, `$ts`, `$partition` and the
 * user fields; deletes carry `$pk` and `$ts`; a flush marker asks the channel's data node to seal what it buffered.
 * Layout: u8 type | u32 header length | header JSON | column batch (inserts, deletes).
 */
export type WalMsg =
  | { type: 'insert'; collectionID: number; ts: bigint; batch: ColumnBatch }
  | { type: 'delete'; collectionID: number; ts: bigint; batch: ColumnBatch }
  | { type: 'flush'; collectionID: number; ts: bigint };

const TYPES = ['insert', 'delete', 'flush'] as const;

export function encodeWalMsg(m: WalMsg): Buffer {
  const header = Buffer.from(JSON.stringify({ collectionID: m.collectionID, ts: m.ts.toString() }), 'utf8');
  // The batch is encoded after room for the head, so the message is built without a second copy of its columns.
  const out = m.type === 'flush' ? Buffer.alloc(5 + header.length) : encodeBatchAfter(m.batch, 5 + header.length);
  out.writeUInt8(TYPES.indexOf(m.type), 0);
  out.writeUInt32LE(header.length, 1);
  header.copy(out, 5);
  return out;
}

export function decodeWalMsg(buf: Buffer): WalMsg {
  const type = TYPES[buf.readUInt8(0)];
  if (!type) throw new Error(`unknown WAL message type ${buf.readUInt8(0)}`);
  const hlen = buf.readUInt32LE(1);
  const h = JSON.parse(buf.toString('utf8', 5, 5 + hlen)) as { collectionID: number; ts: string };
  const ts = BigInt(h.ts);
  if (type === 'flush') return { type, collectionID: h.collectionID, ts };
  // Copy so the batch's typed arrays are 8-aligned views of their own buffer.
  const body = Buffer.alloc(buf.length - 5 - hlen);
  buf.copy(body, 0, 5 + hlen);
  return { type, collectionID: h.collectionID, ts, batch: decodeBatch(body) };
}
