/**
 * CRC-framed records for the embedded store (the lock, atomic replacement and whole writes are in @kite/common).
 * A frame is `u32 length | u32 crc32(payload) | payload` (little endian). A frame whose length runs past the end of
 * the file, or whose checksum does not match, marks a torn tail: everything from it on is dropped on open.
 */
import { crc32 } from '@kite/common';

export const FRAME_HEADER_BYTES = 8;
/** A frame longer than this is treated as corruption, not as a record to allocate for. */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024;

export function encodeFrame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt32LE(crc32(payload), 4);
  payload.copy(out, FRAME_HEADER_BYTES);
  return out;
}

export interface ScannedFrames {
  payloads: Buffer[];
  /** Bytes from the start of the buffer that hold whole, valid frames. */
  validBytes: number;
  /** Why scanning stopped before the end of the buffer, if it did. */
  tornReason?: string;
}

/** Splits a buffer into frame payloads, stopping at the first torn or corrupt frame. */
export function scanFrames(buf: Buffer): ScannedFrames {
  const payloads: Buffer[] = [];
  let pos = 0;
  while (pos < buf.length) {
    if (buf.length - pos < FRAME_HEADER_BYTES) {
      return { payloads, validBytes: pos, tornReason: `partial frame header at byte ${pos}` };
    }
    const len = buf.readUInt32LE(pos);
    const crc = buf.readUInt32LE(pos + 4);
    if (len === 0 || len > MAX_FRAME_BYTES) {
      return { payloads, validBytes: pos, tornReason: `bad frame length ${len} at byte ${pos}` };
    }
    if (pos + FRAME_HEADER_BYTES + len > buf.length) {
      return { payloads, validBytes: pos, tornReason: `frame at byte ${pos} runs past the end of the file` };
    }
    const payload = buf.subarray(pos + FRAME_HEADER_BYTES, pos + FRAME_HEADER_BYTES + len);
    if (crc32(payload) !== crc) {
      return { payloads, validBytes: pos, tornReason: `checksum mismatch in frame at byte ${pos}` };
    }
    payloads.push(payload);
    pos += FRAME_HEADER_BYTES + len;
  }
  return { payloads, validBytes: pos };
}
