import { KiteError, listenFailed, silentLogger } from '@kite/common';
import { listening, settingText, StartedParts } from './startup';

describe('start-up', () => {
  it('names a setting by flag, config key and environment variable', () => {
    expect(settingText({ flag: '--metrics-port', key: 'proxy.metricsPort' })).toBe(
      '--metrics-port (config proxy.metricsPort, env KITE_PROXY_METRICS_PORT)',
    );
    expect(settingText({ key: 'common.dataDir' })).toBe('config common.dataDir (env KITE_COMMON_DATA_DIR)');
  });

  it('adds what failed and the setting to change to a listen failure, and passes other errors through', async () => {
    const inUse = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:9091'), { code: 'EADDRINUSE' });
    await expect(
      listening('HTTP server', { flag: '--metrics-port', key: 'proxy.metricsPort' }, () => Promise.reject(listenFailed('127.0.0.1', 9091, inUse))),
    ).rejects.toMatchObject({
      kind: 'ListenFailed',
      message:
        'HTTP server: cannot listen on 127.0.0.1:9091: address already in use (EADDRINUSE); stop the process that holds it ' +
        'or choose another port with --metrics-port (config proxy.metricsPort, env KITE_PROXY_METRICS_PORT)',
    });
    const notLocal = Object.assign(new Error('listen EADDRNOTAVAIL'), { code: 'EADDRNOTAVAIL' });
    await expect(
      listening('gRPC server', { flag: '--port', key: 'proxy.port' }, () => Promise.reject(listenFailed('192.0.2.1', 19530, notLocal))),
    ).rejects.toThrow(/check the address in config common.listenHost \(env KITE_COMMON_LISTEN_HOST\)$/);
    const other = new KiteError('MetaFailed', 'etcd is down');
    await expect(listening('gRPC server', { key: 'proxy.port' }, () => Promise.reject(other))).rejects.toBe(other);
  });

  it('stops what started newest first, past a failing part, and bounds a hanging one after a failed start', async () => {
    const parts = new StartedParts(silentLogger, 300);
    const stopped: string[] = [];
    parts.add('backends', async () => void stopped.push('backends'));
    parts.add('hangs', () => new Promise<void>(() => undefined));
    parts.add('throws', async () => {
      stopped.push('throws');
      throw new Error('boom');
    });
    parts.add('server', async () => void stopped.push('server'));
    const failure = new KiteError('ListenFailed', 'cannot listen');
    const t0 = Date.now();
    await expect(parts.fail(failure)).rejects.toBe(failure);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(stopped).toEqual(['server', 'throws', 'backends']);
    // Nothing is left to stop.
    await parts.stopAll();
    expect(stopped).toHaveLength(3);
  });

  it('a graceful stop stops every part and then reports the first failure', async () => {
    const parts = new StartedParts(silentLogger, 15_000);
    const stopped: string[] = [];
    parts.add('backends', async () => void stopped.push('backends'));
    parts.add('server', async () => {
      stopped.push('server');
      throw new Error('boom');
    });
    await expect(parts.stopAll()).rejects.toThrow('boom');
    expect(stopped).toEqual(['server', 'backends']);
  });
});
