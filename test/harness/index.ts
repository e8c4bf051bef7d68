/** Starts real etcd and Kafka servers for tests (in the style of nats.js's test launcher). */
export * from './etcd';
export * from './kafka';
export * from './proxy';
export { ManagedProcess, type ExitInfo, type ProcessSpec } from './process';
export { freePort, canConnect, sleep, waitUntil, repoRoot, makeTempDir, removeTempDir } from './util';
export * from './s3';
export * from './certs';
