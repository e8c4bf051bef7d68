/**
 * A loopback TCP proxy for failure tests: clients connect to `proxy.port` and reach the target, until the test
 * cuts the link (connections reset, new ones refused) or black-holes it (connections stay open but nothing gets
 * through: a half-open network), and then restores it. The server behind it keeps running all along.
 */
import net from 'node:net';
import { freePort } from './util';

export interface TcpProxy {
  readonly port: number;
  /** `127.0.0.1:<port>` */
  readonly address: string;
  /** Resets every connection and refuses new ones until restore(). */
  cut(): Promise<void>;
  /** Keeps connections open but drops every byte both ways; new connections hang the same way. */
  blackhole(): void;
  /** Forwards again; connections that were black-holed are reset (their protocol state is out of step). */
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(options: { targetPort: number; targetHost?: string; port?: number }): Promise<TcpProxy> {
  const port = options.port ?? (await freePort());
  const host = options.targetHost ?? '127.0.0.1';
  const sockets = new Set<net.Socket>();
  let mode: 'open' | 'blackhole' = 'open';
  let server: net.Server | undefined;

  const onConnection = (client: net.Socket): void => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    if (mode === 'blackhole') {
      client.on('data', () => undefined); // swallow
      return;
    }
    const upstream = net.connect({ host, port: options.targetPort });
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    const forwardTo = (to: net.Socket) => (chunk: Buffer) => {
      if (mode === 'open') to.write(chunk);
    };
    client.on('data', forwardTo(upstream));
    upstream.on('data', forwardTo(client));
  };

  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const s = net.createServer(onConnection);
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        server = s;
        resolve();
      });
    });

  const stopListening = (): Promise<void> =>
    new Promise((resolve) => {
      const s = server;
      server = undefined;
      if (!s) return resolve();
      s.close(() => resolve());
    });

  await listen();
  return {
    port,
    address: `127.0.0.1:${port}`,
    cut: async () => {
      const closing = stopListening();
      for (const s of sockets) s.resetAndDestroy();
      sockets.clear();
      await closing;
    },
    blackhole: () => {
      mode = 'blackhole';
    },
    restore: async () => {
      if (mode === 'blackhole') {
        for (const s of sockets) s.resetAndDestroy();
        sockets.clear();
      }
      mode = 'open';
      if (!server) await listen();
    },
    close: async () => {
      const closing = stopListening();
      for (const s of sockets) s.destroy();
      sockets.clear();
      await closing;
    },
  };
}
