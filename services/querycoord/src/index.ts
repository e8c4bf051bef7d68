export * from './coordinator';
export * from './catalog';
export * from './tso';
export * from './server';
