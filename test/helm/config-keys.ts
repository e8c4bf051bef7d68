/**
 * What Kite's configuration accepts, derived from its schema's defaults: the key paths of the config file and the
 * KITE_* environment variable names. Kite's loader (zod) drops keys it does not know without a word, and only warns
 * about unknown KITE_* variables, so a deployment artefact with a misspelt key would silently run on a default; these
 * checks catch that.
 */
import { ConfigSchema, envName, OTHER_KITE_ENV } from '@kite/common';

/** Environment variables Kite reads that are not config keys (the table `kite` checks the environment against). */
export const EXTRA_KITE_ENV = new Set(Object.keys(OTHER_KITE_ENV));

type Tree = Record<string, unknown>;

const isMap = (v: unknown): v is Tree => v !== null && typeof v === 'object' && !Array.isArray(v);

function defaults(): Tree {
  return ConfigSchema.parse({}) as Tree;
}


/** Every KITE_* variable that sets a config key, mapped to the key's path. */
export function configEnvNames(): Map<string, string[]> {
  const names = new Map<string, string[]>();
  const walk = (node: Tree, path: string[]): void => {
    for (const [key, value] of Object.entries(node)) {
      if (isMap(value)) walk(value, [...path, key]);
      else names.set(envName([...path, key].join('.')), [...path, key]);
    }
  };
  walk(defaults(), []);
  return names;
}

/** Paths in `raw` (a parsed config file) that Kite's schema does not have, e.g. `datanode.segmentMaxRow`. */
export function unknownConfigKeys(raw: unknown): string[] {
  const unknown: string[] = [];
  const walk = (node: Tree, shape: Tree, path: string[]): void => {
    for (const [key, value] of Object.entries(node)) {
      const p = [...path, key];
      if (!(key in shape)) unknown.push(p.join('.'));
      else if (isMap(value) && isMap(shape[key])) walk(value, shape[key] as Tree, p);
      else if (isMap(value) !== isMap(shape[key])) unknown.push(`${p.join('.')} (${isMap(value) ? 'a mapping where a value belongs' : 'a value where a mapping belongs'})`);
    }
  };
  if (!isMap(raw)) return ['<root> (not a mapping)'];
  walk(raw, defaults(), []);
  return unknown;
}

/** KITE_* names in `env` that Kite does not read. */
export function unknownKiteEnv(names: Iterable<string>): string[] {
  const known = configEnvNames();
  return [...names].filter((n) => n.startsWith('KITE_') && !known.has(n) && !EXTRA_KITE_ENV.has(n));
}
