export * from './errors';
export * from './logger';
export * from './config';
export * from './timestamp';
export * from './hash';
export * from './lifecycle';
export * from './files';
export * from './listen';
