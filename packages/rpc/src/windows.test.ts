import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { bindServer, SERVER_WINDOW_BYTES } from './rpc';

// A 2.6 MB Insert crawled through Node's default 64 KiB HTTP/2 windows (one window update per 64 KiB, each a turn of
// the server's event loop). grpc-js has no option for them, so bindServer sets them through its internals; this
// checks, as a client sees them, that both took effect (and fails if a grpc-js upgrade moves those internals).
test('a bound server gives each connection and each call SERVER_WINDOW_BYTES of HTTP/2 window', async () => {
  const server = new grpc.Server();
  const port = await bindServer(server, '127.0.0.1', 0);
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    await new Promise<void>((resolve, reject) => {
      session.once('remoteSettings', () => resolve());
      session.once('error', reject);
    });
    expect(session.remoteSettings.initialWindowSize).toBe(SERVER_WINDOW_BYTES);
    // The connection's window arrives as a WINDOW_UPDATE after the settings.
    const deadline = Date.now() + 5000;
    while ((session.state.remoteWindowSize ?? 0) < SERVER_WINDOW_BYTES && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(session.state.remoteWindowSize).toBe(SERVER_WINDOW_BYTES);
  } finally {
    session.destroy();
    server.forceShutdown();
  }
});
