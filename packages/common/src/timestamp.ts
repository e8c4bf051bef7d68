/** Hybrid timestamps: physical milliseconds << 18 | logical counter, as Milvus's TSO issues them. */
export const LOGICAL_BITS = 18n;
export const LOGICAL_MASK = (1n << LOGICAL_BITS) - 1n;

export function composeTs(physicalMs: number, logical: number): bigint {
  return (BigInt(physicalMs) << LOGICAL_BITS) | BigInt(logical);
}

export function physicalMs(ts: bigint): number {
  return Number(ts >> LOGICAL_BITS);
}

export function logical(ts: bigint): number {
  return Number(ts & LOGICAL_MASK);
}
