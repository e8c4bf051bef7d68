/**
 * The set-up a standalone suite repeats: Kite standalone with the suite's settings and a Node SDK client on it.
 * (Apart from helpers.ts so that importing the checks there does not load the SDK.)
 */
import { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';

/**
 * Kite standalone started with `env`, and a Node SDK client connected to it; `dispose` closes the client and stops the
 * server, printing the server's log tail first when it died during the suite.
 */
export async function standaloneWithClient(env: Record<string, string>): Promise<{ server: Standalone; client: MilvusClient; dispose(): Promise<void> }> {
  const server = await startStandalone({ env });
  const client = new MilvusClient({ address: server.address, timeout: 60_000 });
  await client.connectPromise;
  return {
    server,
    client,
    dispose: async () => {
      await client.closeConnection().catch(() => undefined);
      if (!server.running) console.error(`kite standalone is not running at the end of the suite; log tail:\n${server.logTail(6000)}`);
      await server.dispose();
    },
  };
}
