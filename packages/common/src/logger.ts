import pino from 'pino';

/** A structured logger; `child` adds bindings (component, serverID, channel). */
export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/** The root logger. Level from KITE_LOG_LEVEL (default `info`); JSON lines on stdout. */
export function createLogger(bindings: Record<string, unknown> = {}, level?: string): Logger {
  return pino({
    level: level ?? process.env.KITE_LOG_LEVEL ?? 'info',
    base: { pid: process.pid, ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
  }) as unknown as Logger;
}

/** A logger that drops everything, for unit tests. */
export const silentLogger: Logger = createLogger({}, 'silent');
