export * from './standalone';
export type { RestartRecord } from './cluster';
