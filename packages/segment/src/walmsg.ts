import { decodeBatch, encodeBatchAfter } from './codec';
import type { ColumnBatch } from './columns';

/**
 * Messages on a collection's WAL channels. Inserts carry a ColumnBatch with `$pk`, `$ts`, `$partition` and the
 * user fields; deletes carry `$pk` and `$ts`; a flush marker asks the channel's data node to seal what it buffered.
 * Layout: u8 type | u32 header length | header JSON | column batch (inserts, deletes). The header JSON is padded with
 * spaces so the batch starts at a multiple of 8 bytes: a reader holding the message in a buffer of its own (the
 * embedded WAL hands subscribers the appended buffer) views its columns in place instead of copying them.
 * Messages written before that padding (batch at any offset) decode the same way, with a copy.
 */
export type WalMsg =
  | { type: 'insert'; collectionID: number; ts: bigint; batch: ColumnBatch }
  | { type: 'delete'; collectionID: number; ts: bigint; batch: ColumnBatch }
  | { type: 'flush'; collectionID: number; ts: bigint };

const TYPES = ['insert', 'delete', 'flush'] as const;

export function encodeWalMsg(m: WalMsg): Buffer {
  const json = JSON.stringify({ collectionID: m.collectionID, ts: m.ts.toString() });
  const header = Buffer.from(json.padEnd(json.length + ((8 - ((5 + json.length) % 8)) % 8)), 'utf8');
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
  const start = 5 + hlen;
  // A message that is the whole of its memory with the batch 8-aligned is viewed in place (its columns keep only
  // this message alive); otherwise (a slice of a larger read, or an unpadded message) the batch is copied so its
  // typed arrays are 8-aligned views of their own buffer. Decoded columns are read-only either way: several readers
  // of one channel may share them.
  if (buf.byteOffset === 0 && buf.length === buf.buffer.byteLength && start % 8 === 0) {
    return { type, collectionID: h.collectionID, ts, batch: decodeBatch(buf.subarray(start)) };
  }
  const body = Buffer.alloc(buf.length - start);
  buf.copy(body, 0, start);
  return { type, collectionID: h.collectionID, ts, batch: decodeBatch(body) };
}
