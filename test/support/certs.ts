/**
 * Test certificates made with the openssl command line: a CA, a server certificate for 127.0.0.1 and localhost, a
 * client certificate signed by the CA, and a client certificate signed by another CA (which a server checking
 * client certificates against the first CA must refuse).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface TestCerts {
  dir: string;
  caPem: string;
  serverPem: string;
  serverKey: string;
  clientPem: string;
  clientKey: string;
  /** A client certificate and key signed by a CA the server does not trust. */
  strangerPem: string;
  strangerKey: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

function ca(dir: string, name: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.pem`]);
}

function signed(dir: string, name: string, caName: string, ext: string): void {
  fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
  openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.pem`, '-CAkey', `${caName}.key`, '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
}

/** Writes the certificates into `dir` (created if missing). */
export function makeTestCerts(dir: string): TestCerts {
  fs.mkdirSync(dir, { recursive: true });
  ca(dir, 'ca');
  ca(dir, 'other-ca');
  signed(dir, 'server', 'ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  signed(dir, 'client', 'ca', 'extendedKeyUsage=clientAuth\n');
  signed(dir, 'stranger', 'other-ca', 'extendedKeyUsage=clientAuth\n');
  const f = (n: string): string => path.join(dir, n);
  return {
    dir,
    caPem: f('ca.pem'),
    serverPem: f('server.pem'),
    serverKey: f('server.key'),
    clientPem: f('client.pem'),
    clientKey: f('client.key'),
    strangerPem: f('stranger.pem'),
    strangerKey: f('stranger.key'),
  };
}
