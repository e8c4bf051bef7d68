export * from './messages';
export * from './rpc';
export * from './unary';
export * from './security';
export * from './local';
