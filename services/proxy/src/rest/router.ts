/**
 * Milvus's RESTful API v2 (`POST /v2/vectordb/<category>/<action>`) on the proxy's HTTP port: every endpoint calls
 * the same MilvusService handlers the gRPC server runs (invoke.ts), with the same authentication, permission
 * checks and deadlines. Answers are HTTP 200 with `{"code": 0, "data": ...}` on success and
 * `{"code": <Milvus code>, "message": "..."}` on failure, as Milvus answers; a path that is no endpoint gets HTTP
 * 404 with the same shape.
 */
import * as grpc from '@grpc/grpc-js';
import express from 'express';
import { z } from 'zod';
import { KiteError, clip, toKiteError, type KiteConfig, type Logger } from '@kite/common';
import type { MilvusMethodName } from '@kite/proto';
import { beforeDeadline } from '@kite/rpc';
import { DEFAULT_DB } from '@kite/segment';
import type { Handlers } from '../core';
import type { Security } from '../security';
import { ENDPOINTS, type Endpoint, type EndpointContext } from './endpoints';
import { MilvusInvoker, StatusError, type RestCall } from './invoke';

export interface RestOptions {
  cfg: KiteConfig;
  handlers: Handlers;
  log: Logger;
  security?: Security;
}

/** Milvus's answer shape for a failure. */
interface Failure {
  code: number;
  message: string;
}

function failureOf(e: unknown): Failure {
  if (e instanceof StatusError) return { code: e.code, message: clip(e.message, 2048) };
  const k = toKiteError(e);
  return { code: k.code, message: clip(k.message, 2048) };
}

/**
 * The call's user, checked as the gRPC server checks it (security/guard.ts) within the call's deadline. Milvus's
 * REST server answers missing or wrong credentials with its own code (1800) and the gRPC message; a refusal is
 * counted like one over gRPC.
 */
async function authenticate(security: Security, invoker: MilvusInvoker, method: MilvusMethodName, call: RestCall, address: string): Promise<string | undefined> {
  try {
    return await beforeDeadline(security.authenticate(method, call.metadata, `ipv4:${address}`), invoker.deadline(method, call), 'credential check');
  } catch (e) {
    const k =
      e instanceof KiteError
        ? e.kind === 'NotAuthenticated'
          ? new KiteError('RestNotAuthenticated', e.message)
          : e
        : new KiteError('ServiceUnavailable', `${method}: ${toKiteError(e).message}`, { retriable: true });
    invoker.countRefused(method, k.code);
    throw k;
  }
}

/** A zod issue as Milvus's REST errors read: the path of the field and what is wrong with it. */
function bodyError(err: z.ZodError): KiteError {
  const issue = err.issues[0]!;
  const path = issue.path.length ? issue.path.join('.') : 'the request body';
  const missing = issue.code === 'invalid_type' && issue.received === 'undefined';
  if (missing) return new KiteError('RestParameterMissing', `missing required parameters: ${path} is required`);
  return new KiteError('RestBodyInvalid', `invalid parameter format: ${path}: ${issue.message}`);
}

/** The Request-Timeout header (seconds, as Milvus reads it) as an epoch-ms deadline. */
function clientDeadline(req: express.Request): number | undefined {
  const raw = req.get('Request-Timeout');
  if (raw === undefined) return undefined;
  const s = Number(raw);
  if (!Number.isFinite(s) || s <= 0) throw new KiteError('RestBodyInvalid', `header Request-Timeout must be a positive number of seconds, got ${clip(raw, 32)}`);
  return Date.now() + s * 1000;
}

/** The `Authorization: Bearer <user:password>` header as the gRPC metadata value the SDKs send (base64). */
function authorization(req: express.Request): string | undefined {
  const raw = req.get('Authorization');
  if (raw === undefined) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(raw.trim());
  if (!m) throw new KiteError('RestNotAuthenticated', 'the Authorization header must be "Bearer <user>:<password>"');
  return Buffer.from(m[1]!, 'utf8').toString('base64');
}

/**
 * The router for /v2/vectordb: JSON bodies of at most proxy.maxMessageBytes, each endpoint's body checked by its
 * zod schema, credentials checked when security.authorizationEnabled is on.
 */
export function restRouter(opts: RestOptions): express.Router {
  const invoker = new MilvusInvoker(opts.cfg, opts.handlers, opts.log, opts.security);
  const router = express.Router();
  // Every body is read as JSON whatever its Content-Type (Milvus's server does the same); strict: an object or array.
  router.use(express.json({ limit: opts.cfg.proxy.maxMessageBytes, type: () => true, strict: true }));

  const handle = (ep: Endpoint) => async (req: express.Request, res: express.Response): Promise<void> => {
    try {
      const body: unknown = req.body === undefined || req.body === null ? {} : req.body;
      if (typeof body !== 'object' || Array.isArray(body)) throw new KiteError('RestBodyInvalid', 'can only accept json format request: the body must be a JSON object');
      const parsed = ep.schema.safeParse(body);
      if (!parsed.success) throw bodyError(parsed.error);
      const fields = parsed.data as Record<string, unknown>;
      const db = ep.databaseFree ? DEFAULT_DB : typeof fields.dbName === 'string' && fields.dbName !== '' ? fields.dbName : DEFAULT_DB;
      const metadata = new grpc.Metadata();
      metadata.set('dbname', db);
      const auth = authorization(req);
      if (auth !== undefined) metadata.set('authorization', auth);
      const call: RestCall = { metadata, user: undefined, clientDeadline: clientDeadline(req) };
      if (opts.security?.enabled) call.user = await authenticate(opts.security, invoker, ep.method, call, req.socket.remoteAddress ?? '');
      const allow = req.get('Accept-Type-Allow-Int64');
      const ctx: EndpointContext = {
        db,
        int64AsText: allow !== undefined && allow.trim().toLowerCase() === 'false',
        invoke: (method, request, authorize = true) => invoker.call(method, request, call, authorize),
      };
      const out = await ep.run(fields, ctx);
      res.status(200).json({ code: 0, ...(out ?? { data: {} }) });
    } catch (e) {
      const f = failureOf(e);
      if (f.code === 5) opts.log.error({ path: req.path, err: f.message }, 'REST request failed');
      res.status(200).json(f);
    }
  };

  for (const [path, ep] of Object.entries(ENDPOINTS)) router.post(`/${path}`, (req, res) => void handle(ep)(req, res));
  router.all('/{*rest}', (req, res) => {
    res.status(404).json({ code: 404, message: `no such endpoint: ${req.method} /v2/vectordb${clip(req.path, 256)}; the RESTful API v2 answers POST /v2/vectordb/<category>/<action>` } satisfies Failure);
  });
  // A body that is not JSON, or too large, answers in Milvus's shape (code 1801).
  router.use((err: unknown, _req: express.Request, res: express.Response, next: express.NextFunction) => {
    if (res.headersSent) return next(err);
    const e = err as { type?: string; message?: string };
    const message =
      e.type === 'entity.too.large'
        ? `can only accept json format request: the body is larger than proxy.maxMessageBytes (${opts.cfg.proxy.maxMessageBytes} bytes)`
        : `can only accept json format request: ${clip(e.message ?? String(err), 256)}`;
    res.status(200).json({ code: 1801, message } satisfies Failure);
  });
  const outer = express.Router();
  outer.use('/v2/vectordb', router);
  return outer;
}
