/**
 * The built-in web UI at /webui on the proxy's HTTP port (where Milvus 2.5 serves its own): one HTML page, a small
 * script and a stylesheet (services/proxy/webui/, served as they are: no build step), and the JSON document the
 * script polls, /webui/api/cluster (cluster.ts). The page is rendered on the server too, so the basics (nodes,
 * collections, events) read without JavaScript. With security.authorizationEnabled every path asks for the
 * credentials the RESTful API takes: HTTP Basic (the browser's login prompt) or `Authorization: Bearer user:password`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import express from 'express';
import { KiteError, clip, toKiteError, type KiteConfig, type Logger } from '@kite/common';
import type { ProxyCore } from '../core';
import type { Security } from '../security';
import { clusterJson, type ClusterJson } from './cluster';
import { renderPage } from './page';

export interface WebUiOptions {
  cfg: KiteConfig;
  core: ProxyCore;
  log: Logger;
  security?: Security;
}

/** The page's static files, beside the package's dist/ (they ship with the sources, unchanged). */
const ASSET_DIR = path.resolve(__dirname, '..', '..', 'webui');
const ASSETS: Record<string, string> = { 'render.js': 'text/javascript; charset=utf-8', 'app.js': 'text/javascript; charset=utf-8', 'style.css': 'text/css; charset=utf-8' };
const REALM = 'Basic realm="Kite web UI", charset="UTF-8"';

/** The Authorization header as the gRPC metadata value the SDKs send (base64 of user:password), or undefined. */
function credentials(req: express.Request): string | undefined {
  const raw = req.get('Authorization');
  if (raw === undefined) return undefined;
  const basic = /^Basic\s+(\S+)$/i.exec(raw.trim());
  if (basic) return basic[1]!;
  const bearer = /^Bearer\s+(.+)$/i.exec(raw.trim());
  if (bearer) return Buffer.from(bearer[1]!, 'utf8').toString('base64');
  throw new KiteError('NotAuthenticated', 'the Authorization header must be "Basic <base64 user:password>" or "Bearer <user>:<password>"');
}

export function webUiRouter(opts: WebUiOptions): express.Router {
  const router = express.Router();
  const timeoutMs = opts.cfg.proxy.defaultTimeoutMs;
  const assets = new Map<string, Buffer>();
  for (const name of Object.keys(ASSETS)) {
    try {
      assets.set(name, fs.readFileSync(path.join(ASSET_DIR, name)));
    } catch (e) {
      opts.log.warn({ file: path.join(ASSET_DIR, name), err: String(e) }, 'web UI asset missing; the page works without it');
    }
  }

  // Authentication, as the RESTful API's: any authenticated user may look (GetMetrics needs no privilege either).
  router.use('/webui', (req, res, next) => {
    const security = opts.security;
    if (!security?.enabled) return next();
    const deny = (message: string): void => {
      res.status(401).set('WWW-Authenticate', REALM).type('text/plain').send(`${message}\n`);
    };
    let token: string | undefined;
    try {
      token = credentials(req);
    } catch (e) {
      return deny(toKiteError(e).message);
    }
    if (token === undefined) return deny('authorization is enabled: sign in with a Kite user and password');
    const metadata = new grpc.Metadata();
    metadata.set('authorization', token);
    security
      .authenticate('GetMetrics', metadata, `ipv4:${req.socket.remoteAddress ?? ''}`)
      .then(() => next(), (e: unknown) => deny(clip(toKiteError(e).message, 512)));
  });

  const snapshot = (): Promise<ClusterJson> => clusterJson(opts.core, Date.now() + timeoutMs);

  router.get('/webui', (req, res) => {
    // Relative links in the page (app.js, api/cluster) resolve under /webui/.
    if (!req.originalUrl.split('?')[0]!.endsWith('/')) return res.redirect(301, '/webui/');
    snapshot().then(
      (data) => res.status(200).set('Cache-Control', 'no-store').type('html').send(renderPage(data, timeoutMs)),
      (e: unknown) => res.status(500).type('text/plain').send(`cluster view failed: ${clip(toKiteError(e).message, 1024)}\n`),
    );
  });

  router.get('/webui/api/cluster', (_req, res) => {
    snapshot().then(
      (data) => res.status(200).set('Cache-Control', 'no-store').json(data),
      (e: unknown) => {
        const k = toKiteError(e);
        res.status(500).json({ code: k.code, message: clip(k.message, 1024) });
      },
    );
  });

  router.get('/webui/:asset', (req, res, next) => {
    const name = req.params.asset;
    const body = name === undefined ? undefined : assets.get(name);
    if (!body || !name) return next();
    res.status(200).set('Cache-Control', 'no-cache').type(ASSETS[name]!).send(body);
  });

  return router;
}
