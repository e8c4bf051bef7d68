/**
 * Who may talk to Kite's gRPC servers. The public Milvus port serves plaintext or TLS by `tls.mode` (Milvus's
 * modes: 0 off, 1 one-way, 2 mutual). Internal ports take calls only with the cluster secret (`internal.secret`):
 * every internal client sends it as metadata, every internal server compares it in constant time and answers a call
 * without it UNAUTHENTICATED before any handler runs.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { envName, KiteError, type KiteConfig } from '@kite/common';

/** Metadata key that carries the cluster secret on internal calls. */
export const INTERNAL_SECRET_HEADER = 'x-kite-internal-secret';

let secret = '';
let secretDigest: Buffer | undefined;

/**
 * The cluster secret this process sends on internal calls and requires on its internal servers. Empty: calls carry
 * none and servers accept any call (a cluster role without internal.secret).
 */
export function useInternalSecret(value: string): void {
  secret = value;
  secretDigest = value === '' ? undefined : digest(value);
}

/** A random secret for a process whose internal calls stay inside it (standalone without internal.secret). */
export function randomInternalSecret(): string {
  return randomBytes(32).toString('hex');
}

export function internalSecretInUse(): boolean {
  return secretDigest !== undefined;
}

// Comparing digests keeps the comparison constant-time whatever the lengths of the two values.
function digest(v: string): Buffer {
  return createHash('sha256').update(v).digest();
}

/** Whether an internal call's metadata carries this process's cluster secret (any call when none is set). */
export function internalCallAllowed(md: grpc.Metadata): boolean {
  if (!secretDigest) return true;
  const sent = md.get(INTERNAL_SECRET_HEADER)[0];
  if (typeof sent !== 'string' || sent === '') return false;
  return timingSafeEqual(digest(sent), secretDigest);
}

/** The metadata every internal call starts from: the cluster secret (this process's unless `value`), when one is set. */
export function internalMetadata(value = secret): grpc.Metadata {
  const md = new grpc.Metadata();
  if (value !== '') md.set(INTERNAL_SECRET_HEADER, value);
  return md;
}

/** The error an internal server answers a call without the right secret with. */
export function internalRefusal(service: string, method: string): Partial<grpc.StatusObject> {
  return {
    code: grpc.status.UNAUTHENTICATED,
    details: `internal call ${service}.${method} refused: missing or wrong cluster secret (every process of a cluster needs the same ${envName('internal.secret')})`,
  };
}

function readPem(key: 'serverPemPath' | 'serverKeyPath' | 'caPemPath', file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new KiteError('ParameterInvalid', `cannot read tls.${key} ${file} (env ${envName(`tls.${key}`)}): ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Credentials of the public Milvus port by tls.mode: insecure (0), the server certificate (1), or the server
 * certificate and client certificates required and checked against tls.caPemPath (2). An unreadable or invalid
 * file fails naming the key.
 */
export function publicServerCredentials(cfg: Pick<KiteConfig, 'tls'>): grpc.ServerCredentials {
  const t = cfg.tls;
  if (t.mode === 0) return grpc.ServerCredentials.createInsecure();
  const cert = readPem('serverPemPath', t.serverPemPath);
  const key = readPem('serverKeyPath', t.serverKeyPath);
  const ca = t.mode === 2 ? readPem('caPemPath', t.caPemPath) : null;
  try {
    return grpc.ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], t.mode === 2);
  } catch (e) {
    throw new KiteError('ParameterInvalid', `tls.mode ${t.mode}: the certificate files are not usable (tls.serverPemPath, tls.serverKeyPath, tls.caPemPath): ${(e as Error).message}`, { cause: e });
  }
}
