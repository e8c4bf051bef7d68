export * from './proxy';
export * from './schema';
