export { restRouter, type RestOptions } from './router';
