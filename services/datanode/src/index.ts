export * from './node';
