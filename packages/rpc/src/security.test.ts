import * as grpc from '@grpc/grpc-js';
import { addService, bindServer, connect, type Client } from './rpc';
import { INTERNAL_SECRET_HEADER, internalCallAllowed, useInternalSecret } from './security';
import type { QueryCoordApi } from './messages';

/** A coordinator whose DropCollection records the names it was asked to drop. */
function coordinator(dropped: string[]): QueryCoordApi {
  return {
    DropCollection: (r: { name: string }) => {
      dropped.push(r.name);
      return Promise.resolve({ status: { code: 0, kind: '', reason: '', retriable: false } });
    },
  } as unknown as QueryCoordApi;
}

describe('internal cluster secret', () => {
  let server: grpc.Server;
  let address = '';
  const dropped: string[] = [];
  let client: Client<QueryCoordApi> | undefined;

  beforeAll(async () => {
    useInternalSecret('s3cret');
    server = new grpc.Server();
    addService(server, 'QueryCoord', coordinator(dropped));
    address = `127.0.0.1:${await bindServer(server, '127.0.0.1', 0)}`;
  });
  afterEach(() => client?.close());
  afterAll(() => {
    server.forceShutdown();
    useInternalSecret('');
  });

  it('serves a call that carries the secret', async () => {
    client = connect('QueryCoord', address, 5000);
    await client.DropCollection({ name: 'a' });
    expect(dropped).toEqual(['a']);
  });

  it('refuses a call without the secret or with a wrong one, UNAUTHENTICATED, before the handler runs', async () => {
    for (const secret of ['', 'wrong', 's3cret-but-longer']) {
      client = connect('QueryCoord', address, 5000, { secret });
      await expect(client.DropCollection({ name: 'b' })).rejects.toThrow(/refused: missing or wrong cluster secret.*KITE_INTERNAL_SECRET/);
      client.close();
    }
    expect(dropped).toEqual(['a']);
  });

  it('compares the sent value, accepting any call only when no secret is set', () => {
    const md = (v?: string): grpc.Metadata => {
      const m = new grpc.Metadata();
      if (v !== undefined) m.set(INTERNAL_SECRET_HEADER, v);
      return m;
    };
    useInternalSecret('s3cret');
    expect(internalCallAllowed(md('s3cret'))).toBe(true);
    expect(internalCallAllowed(md('s3cre'))).toBe(false);
    expect(internalCallAllowed(md())).toBe(false);
    useInternalSecret('');
    expect(internalCallAllowed(md())).toBe(true);
    useInternalSecret('s3cret');
  });
});
