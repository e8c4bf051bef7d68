import { errnoOf, listenFailed } from './listen';

describe('listen failures', () => {
  it('finds the errno in a Node error and in grpc-js text', () => {
    expect(errnoOf(Object.assign(new Error('listen EACCES'), { code: 'EACCES' }))).toBe('EACCES');
    expect(
      errnoOf(new Error('No address added out of total 1 resolved errors: [listen EADDRINUSE: address already in use 127.0.0.1:19530]')),
    ).toBe('EADDRINUSE');
    expect(errnoOf(new Error('Name resolution failed for target dns:nowhere'))).toBeUndefined();
  });

  it('names host:port and the reason, keeping the original as the cause', () => {
    const cause = new Error('listen EADDRNOTAVAIL: address not available 192.0.2.1:0');
    const e = listenFailed('192.0.2.1', 0, cause);
    expect(e).toMatchObject({ kind: 'ListenFailed', retriable: false, cause });
    expect(e.message).toBe("cannot listen on 192.0.2.1:0: the address is not one of this machine's (EADDRNOTAVAIL)");
    expect(listenFailed('h', 1, new Error('odd failure')).message).toBe('cannot listen on h:1: odd failure');
  });
});
