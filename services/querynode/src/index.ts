export * from './node';
export * from './exec';
export * from './segments';
export * from './delegator';
