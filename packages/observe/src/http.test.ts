import * as net from 'node:net';
import type { Logger } from '@kite/common';
import { startHttp } from './index';

/** A logger that keeps every message, to check what start-up claimed. */
function recordingLogger(): Logger & { messages: string[] } {
  const messages: string[] = [];
  const log = {
    messages,
    debug: (o: object | string, m?: string) => void messages.push(m ?? String(o)),
    info: (o: object | string, m?: string) => void messages.push(m ?? String(o)),
    warn: (o: object | string, m?: string) => void messages.push(m ?? String(o)),
    error: (o: object | string, m?: string) => void messages.push(m ?? String(o)),
    child: () => log,
  };
  return log;
}

describe('startHttp', () => {
  it('rejects with ListenFailed naming host:port and EADDRINUSE for a held port, and logs nothing', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', () => resolve()));
    const port = (holder.address() as net.AddressInfo).port;
    const log = recordingLogger();
    try {
      const err = await startHttp('127.0.0.1', port, { ready: () => true }, log).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ name: 'KiteError', kind: 'ListenFailed', retriable: false });
      expect((err as Error).message).toBe(`cannot listen on 127.0.0.1:${port}: address already in use (EADDRINUSE)`);
      expect(log.messages).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  });

  it('logs that it is up only once it listens, with the bound port', async () => {
    const log = recordingLogger();
    const http = await startHttp('127.0.0.1', 0, { ready: () => true }, log);
    try {
      expect(http.port).toBeGreaterThan(0);
      expect(log.messages).toEqual(['HTTP endpoints /metrics /healthz /ready up']);
      const res = await fetch(`http://127.0.0.1:${http.port}/ready`);
      expect(res.status).toBe(200);
    } finally {
      await http.close();
    }
  });
});
