export * from './component';
export * from './host';
export * from './startup';
