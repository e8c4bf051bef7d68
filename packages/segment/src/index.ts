export * from './columns';
export * from './codec';
export * from './meta';
export * from './fielddata';
export * from './walmsg';
export * from './bitmap';
export * from './hits';
export * from './layout';
