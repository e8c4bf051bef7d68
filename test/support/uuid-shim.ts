/**
 * A CommonJS stand-in for `uuid` inside Jest. The Node SDK loads parquetjs → thrift → `uuid`, whose current major is
 * ESM only: Node itself loads it (require of ESM), Jest's module runtime cannot. Thrift only uses parse/stringify
 * for UUID-typed fields, which the SDK's bulk writer never reaches in these tests; they are implemented anyway.
 * Test files that import the SDK start with: jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));
 */
import { randomUUID } from 'node:crypto';

export function parse(uuid: string): Uint8Array {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new TypeError(`Invalid UUID: ${uuid}`);
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

export function stringify(bytes: ArrayLike<number>, offset = 0): string {
  const hex = Buffer.from(Array.from({ length: 16 }, (_, i) => bytes[offset + i] ?? 0)).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function v4(): string {
  return randomUUID();
}
