export * from './proxy';
export * from './schema';
// The filter check every read runs (also used to derive the compatibility matrix in docs/milvus-wire-notes.md).
export { checkFilter } from './read';
export { FilterCache } from './filter-cache';
