export * from './types';
export { LocalObjectStore, MAX_KEY_BYTES } from './local';
export type { LocalObjectStoreOptions } from './local';
export { objectStoreContract } from './contract';
export type { ObjectStoreContractOptions, ObjectStoreFactory, ObjectStoreHarness } from './contract';
export { S3ObjectStore, isRetriableS3Error, type S3ObjectStoreOptions } from './s3';
export { checkRootPath, openObjectStore, type ObjectStoreConfig } from './open';
