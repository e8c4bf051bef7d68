import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ConfigSchema, silentLogger, type KiteConfig } from '@kite/common';
import { EmbeddedMetaStore } from '@kite/metastore';
import { keys } from '@kite/segment';
import { LoginLimiter, checkUsername, decodePassword, parseAuthorization, peerHost } from './parse';
import { AUTH_FAILED, AUTH_MISSING, Security } from './security';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

describe('parsing', () => {
  it('reads the authorization metadata as base64 of user:password, splitting at the first colon', () => {
    expect(parseAuthorization(b64('root:Milvus'))).toEqual({ user: 'root', password: 'Milvus' });
    expect(parseAuthorization(b64('u:pa:ss'))).toEqual({ user: 'u', password: 'pa:ss' });
    expect(parseAuthorization(Buffer.from(b64('u:p')))).toEqual({ user: 'u', password: 'p' });
  });

  it.each([['not base64!'], [b64('no-colon')], [b64(':nouser')], ['abc']])('refuses %p', (value) => {
    expect(parseAuthorization(value)).toBeUndefined();
  });

  it('checks user names and passwords as Milvus does, naming the field', () => {
    expect(() => checkUsername('alice_1')).not.toThrow();
    expect(() => checkUsername('')).toThrow(/username is empty/);
    expect(() => checkUsername('1a')).toThrow(/username "1a" is not valid/);
    expect(() => checkUsername('a'.repeat(33))).toThrow(/longer than 32/);
    expect(decodePassword(b64('secret1'), 'password')).toBe('secret1');
    expect(() => decodePassword(b64('12345'), 'newPassword')).toThrow(/newPassword must be 6 to 256 characters long \(it has 5\)/);
    expect(() => decodePassword('%%%', 'password')).toThrow(/password is not base64/);
  });

  it('takes the client address out of a gRPC peer', () => {
    expect(peerHost('ipv4:127.0.0.1:5123')).toBe('127.0.0.1');
    expect(peerHost('ipv6:[::1]:5123')).toBe('::1');
    expect(peerHost('unix:/tmp/s')).toBe('/tmp/s');
  });
});

describe('LoginLimiter', () => {
  it('locks a user and address out after max failures until the window passes; others are unaffected', () => {
    const l = new LoginLimiter(3, 1000);
    for (let i = 0; i < 3; i++) {
      expect(l.blockedForMs('u', 'a', 100 + i)).toBe(0);
      l.fail('u', 'a', 100 + i);
    }
    expect(l.blockedForMs('u', 'a', 500)).toBe(600);
    expect(l.blockedForMs('u', 'b', 500)).toBe(0);
    expect(l.blockedForMs('v', 'a', 500)).toBe(0);
    expect(l.blockedForMs('u', 'a', 1100)).toBe(0);
  });

  it('tracks at most 100000 pairs, forgetting the ones that failed longest ago', () => {
    const l = new LoginLimiter(1, 60_000);
    l.fail('first', 'a', 0);
    for (let i = 0; i < 100_000; i++) l.fail(`u${i}`, 'a', 1);
    expect(l.blockedForMs('first', 'a', 2)).toBe(0);
    expect(l.blockedForMs('u99999', 'a', 2)).toBeGreaterThan(0);
  });

  it('a success clears the count', () => {
    const l = new LoginLimiter(2, 1000);
    l.fail('u', 'a', 0);
    l.succeed('u', 'a');
    l.fail('u', 'a', 1);
    expect(l.blockedForMs('u', 'a', 2)).toBe(0);
  });
});

describe('Security', () => {
  let dir: string;
  let store: EmbeddedMetaStore;
  const securities: Security[] = [];
  const config = (over: Partial<KiteConfig['security']> = {}): KiteConfig =>
    ConfigSchema.parse({ security: { authorizationEnabled: true, passwordHashCost: 4, ...over } });
  const md = (auth?: string): grpc.Metadata => {
    const m = new grpc.Metadata();
    if (auth !== undefined) m.set('authorization', auth);
    return m;
  };
  const open = async (cfg = config()): Promise<Security> => {
    const s = new Security(cfg, store, silentLogger);
    await s.start();
    securities.push(s);
    return s;
  };

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kite-security-'));
    store = await EmbeddedMetaStore.open(dir);
  });
  afterEach(async () => {
    for (const s of securities.splice(0)) await s.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates root once with the default password, stored as a bcrypt hash, never in clear', async () => {
    const s = await open();
    await open(config({ defaultRootPassword: 'another-one' }));
    const stored = (await store.get(keys.credential('kite', 'root')))?.value ?? '';
    expect(stored).toMatch(/"passwordHash":"\$2[aby]\$04\$/);
    expect(stored).not.toContain('Milvus');
    expect(await s.authenticate('ShowCollections', md(b64('root:Milvus')), 'ipv4:127.0.0.1:1')).toBe('root');
    expect(await s.verify('root', 'another-one')).toBe(false);
  });

  it('refuses missing and wrong credentials except on the open methods; off, lets everything through', async () => {
    const s = await open();
    await expect(s.authenticate('Insert', md(), 'ipv4:1.2.3.4:1')).rejects.toThrow(AUTH_MISSING);
    await expect(s.authenticate('Insert', md(b64('root:wrong')), 'ipv4:1.2.3.4:1')).rejects.toThrow(AUTH_FAILED);
    await expect(s.authenticate('Insert', md('###'), 'ipv4:1.2.3.4:1')).rejects.toThrow(/invalid token format/);
    expect(await s.authenticate('CheckHealth', md(), 'ipv4:1.2.3.4:1')).toBeUndefined();
    const off = await open(config({ authorizationEnabled: false }));
    expect(await off.authenticate('Insert', md(), 'ipv4:1.2.3.4:1')).toBeUndefined();
  });

  it('a password change or a delete through another proxy applies here (the watch), and the verified cache follows it', async () => {
    const here = await open();
    const there = await open();
    await there.create('alice', 'alice-pw-1');
    expect(await here.verify('alice', 'alice-pw-1')).toBe(true);
    await there.update('alice', 'alice-pw-2');
    const deadline = Date.now() + 5000;
    while ((await here.verify('alice', 'alice-pw-1')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await here.verify('alice', 'alice-pw-1')).toBe(false);
    expect(await here.verify('alice', 'alice-pw-2')).toBe(true);
    await there.remove('alice');
    expect(await here.verify('alice', 'alice-pw-2')).toBe(false);
    expect(await here.listUsers()).toEqual(['root']);
  });

  it('parallel guesses of one user from one address get no more than maxLoginFailures tries', async () => {
    const s = await open(config({ maxLoginFailures: 3 }));
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => s.authenticate('Insert', md(b64(`root:guess-${i}`)), 'ipv4:10.0.0.1:1')));
    const reasons = results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'accepted'));
    expect(reasons.filter((m) => m === AUTH_FAILED)).toHaveLength(3);
    expect(reasons.filter((m) => /too many failed logins for user root from 10\.0\.0\.1/.test(m))).toHaveLength(9);
    // Right password, same address: still locked out; another address: accepted.
    await expect(s.authenticate('Insert', md(b64('root:Milvus')), 'ipv4:10.0.0.1:2')).rejects.toThrow(/too many failed logins/);
    expect(await s.authenticate('Insert', md(b64('root:Milvus')), 'ipv4:10.0.0.2:1')).toBe('root');
  });

  it('refuses a second user of the same name', async () => {
    const s = await open();
    await s.create('bob', 'bob-pw-1');
    await expect(s.create('bob', 'bob-pw-2')).rejects.toThrow(/user bob already exists/);
  });
});
