/**
 * A throwaway certificate authority for TLS tests, made with the openssl CLI: a CA, a server certificate for
 * 127.0.0.1/localhost and a client certificate, all signed by the CA (PEM files in `dir`).
 *
 *   const certs = makeTestCerts(dir);
 *   // certs.ca, certs.serverCert, certs.serverKey, certs.clientCert, certs.clientKey: file paths
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface TestCerts {
  ca: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

/** Makes the CA and certificates in `dir` (created when missing); `name` distinguishes several CAs in one test. */
export function makeTestCerts(dir: string, name = 'kite-test'): TestCerts {
  fs.mkdirSync(dir, { recursive: true });
  const f = (file: string): string => path.join(dir, file);
  const days = ['-days', '2'];
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), ...days, '-subj', `/CN=${name} CA`], dir);
  const leaf = (leafName: string, cn: string, ext: string): void => {
    fs.writeFileSync(f(`${leafName}.ext`), ext);
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${leafName}.key`), '-out', f(`${leafName}.csr`), '-subj', `/CN=${cn}`], dir);
    openssl(
      ['x509', '-req', '-in', f(`${leafName}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${leafName}.pem`), ...days, '-extfile', f(`${leafName}.ext`)],
      dir,
    );
  };
  leaf('server', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  leaf('client', 'kite-client', 'extendedKeyUsage=clientAuth\n');
  return {
    ca: f('ca.pem'),
    caKey: f('ca.key'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
  };
}
