import * as fs from 'node:fs';
import * as net from 'node:net';
import { errnoOf, freePort, listenFailed } from './listen';

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

  it('hands out free ports below the kernel\'s ephemeral range, where no outgoing connection takes them', async () => {
    const range = fs.existsSync('/proc/sys/net/ipv4/ip_local_port_range')
      ? Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
      : 32768;
    for (let i = 0; i < 20; i++) {
      const port = await freePort();
      expect(port).toBeGreaterThan(1024);
      expect(port).toBeLessThan(range);
      // and it can be listened on
      await new Promise<void>((resolve, reject) => {
        const s = net.createServer();
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => s.close(() => resolve()));
      });
    }
  });
});
