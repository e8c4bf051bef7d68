import { connect, type Client } from '@kite/rpc';
import type * as M from '@kite/rpc';
import { encodeBatch, type ColumnBatch } from '@kite/segment';
import type { Delegator } from './delegator';

/** Clients of the other query nodes a delegator fans out to, one per address, each with a default call timeout. */
export class Peers {
  private readonly clients = new Map<string, Client<M.QueryNodeApi>>();

  constructor(private readonly callTimeoutMs: number) {}

  get(address: string): Client<M.QueryNodeApi> {
    let peer = this.clients.get(address);
    if (!peer) this.clients.set(address, (peer = connect('QueryNode', address, this.callTimeoutMs)));
    return peer;
  }

  close(): void {
    for (const p of this.clients.values()) p.close();
    this.clients.clear();
  }
}

/**
 * Sends one request per node holding sealed segments of the delegator's channel; the local node (`self`, at
 * `selfAddress`) is called directly.
 */
export function fanOut<Req, Local, Res = ColumnBatch>(
  d: Delegator,
  self: { node: Local; address: string },
  peers: Peers,
  make: (ids: number[], watermark: number, deletes: Buffer) => Req,
  call: (client: Client<M.QueryNodeApi> | Local, req: Req) => Promise<Res>,
): Promise<Res>[] {
  const byNode = new Map<string, number[]>();
  for (const s of d.sealed) byNode.set(s.address, [...(byNode.get(s.address) ?? []), s.segment_id]);
  if (byNode.size === 0) return [];
  // None (the usual case): an empty buffer, which the workers read as no deletes without decoding a batch.
  const deletes = d.hasRecentDeletes ? encodeBatch(d.recentDeleteBatch()) : Buffer.alloc(0);
  return [...byNode].map(([address, ids]) => {
    const req = make(ids, d.watermark, deletes);
    const peer: Client<M.QueryNodeApi> | Local = address === self.address ? self.node : peers.get(address);
    const p = call(peer, req);
    // The caller awaits these only after its own part (a search of the growing rows) is done: a peer that fails
    // sooner must not count as an unhandled rejection, which ends the process. The caller still sees the error.
    p.catch(() => undefined);
    return p;
  });
}
