import * as http from 'node:http';
import express from 'express';
import * as prom from 'prom-client';
import { listenFailed, type Logger } from '@kite/common';

/**
 * Observability shared by every process: one Prometheus registry (process defaults plus `kite_*` metrics, named
 * `kite_<component>_<thing>_<unit>`), and an HTTP server with /metrics, /healthz (alive) and /ready (registered and
 * serving what it was assigned).
 */
export const registry = new prom.Registry();
prom.collectDefaultMetrics({ register: registry });

const counters = new Map<string, prom.Counter<string>>();
const gauges = new Map<string, prom.Gauge<string>>();
const histograms = new Map<string, prom.Histogram<string>>();

/** Get-or-create, so two components in one process (standalone) share a metric instead of clashing. */
export function counter(name: string, help: string, labelNames: string[] = []): prom.Counter<string> {
  let m = counters.get(name);
  if (!m) counters.set(name, (m = new prom.Counter({ name, help, labelNames, registers: [registry] })));
  return m;
}

export function gauge(name: string, help: string, labelNames: string[] = []): prom.Gauge<string> {
  let m = gauges.get(name);
  if (!m) gauges.set(name, (m = new prom.Gauge({ name, help, labelNames, registers: [registry] })));
  return m;
}

export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function histogram(name: string, help: string, labelNames: string[] = [], buckets = LATENCY_BUCKETS): prom.Histogram<string> {
  let m = histograms.get(name);
  if (!m) histograms.set(name, (m = new prom.Histogram({ name, help, labelNames, buckets, registers: [registry] })));
  return m;
}

export interface HealthChecks {
  /** Readiness: every component of the process is registered and serving. */
  ready(): boolean;
  /** Human-readable details for /ready. */
  details?(): Record<string, unknown>;
}

/**
 * More routes on the HTTP server (a component's own API, e.g. the proxy's RESTful API): called for every request
 * the built-in endpoints do not answer; `next()` passes the request on (to the final 404).
 */
export type HttpHandler = (req: http.IncomingMessage, res: http.ServerResponse, next: (err?: unknown) => void) => void;

export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Serves /metrics, /healthz and /ready on `host:port` (0: any free port). Resolves once the port listens, and only
 * then logs that the endpoints are up; a port that cannot be bound rejects with a `ListenFailed` naming it.
 */
export async function startHttp(host: string, port: number, checks: HealthChecks, log: Logger, extra?: HttpHandler): Promise<HttpServer> {
  const app = express();
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', ...(checks.details?.() ?? {}) });
  });
  app.get('/ready', (_req, res) => {
    const ok = checks.ready();
    res.status(ok ? 200 : 503).json({ ready: ok, ...(checks.details?.() ?? {}) });
  });
  app.get('/metrics', (_req, res) => {
    registry.metrics().then(
      (text) => {
        res.set('Content-Type', registry.contentType);
        res.send(text);
      },
      (e: unknown) => res.status(500).send(String(e)),
    );
  });
  if (extra) app.use(extra);
  // Not app.listen(): Express 5 calls its callback on a listen error too, which read as success here.
  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    const failed = (e: Error): void => reject(listenFailed(host, port, e));
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  log.info({ host, port: bound }, 'HTTP endpoints /metrics /healthz /ready up');
  return {
    port: bound,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Wraps every async method of a backend so its latency and failures are measured:
 * `<metric>_duration_seconds{op}` and `<metric>_failures_total{op}`. Used for the meta store and object store.
 */
export function timed<T extends object>(target: T, metric: string, help: string): T {
  const dur = histogram(`${metric}_duration_seconds`, `${help} latency`, ['op']);
  const fails = counter(`${metric}_failures_total`, `${help} failures`, ['op']);
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver) as unknown;
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      return (...args: unknown[]) => {
        const out = (value as (...a: unknown[]) => unknown).apply(obj, args);
        if (!(out instanceof Promise)) return out;
        const end = dur.startTimer({ op: prop });
        return out.then(
          (v) => {
            end();
            return v;
          },
          (e: unknown) => {
            end();
            fails.inc({ op: prop });
            throw e;
          },
        );
      };
    },
  });
}
