import * as fs from 'node:fs';
import YAML from 'yaml';
import { ConfigSchema, envName, loadConfig, type KiteConfig } from '@kite/common';

/** Where a key's effective value came from; later sources win (see loadConfig). */
export type ConfigSource = 'default' | 'file' | `env ${string}` | 'flag';

export interface ConfigEntry {
  key: string;
  value: unknown;
  source: ConfigSource;
}

/** Keys whose values are secrets: printed as `****` when set. File paths (key and certificate paths) are not. */
const SECRET = /password|secret|accessKeyId/i;

type Tree = Record<string, unknown>;
const isMap = (v: unknown): v is Tree => v !== null && typeof v === 'object' && !Array.isArray(v);

function has(tree: unknown, path: string[]): boolean {
  let node = tree;
  for (const p of path) {
    if (!isMap(node) || !(p in node) || node[p] === undefined) return false;
    node = node[p];
  }
  return true;
}

function get(tree: unknown, path: string[]): unknown {
  return path.reduce<unknown>((node, p) => (isMap(node) ? node[p] : undefined), tree);
}

/**
 * The effective configuration, key by key, with the source of each value: the same inputs as loadConfig (which
 * validates them first, so a bad value fails here as it would at start-up).
 */
export function explainConfig(options: { file?: string; env?: NodeJS.ProcessEnv; overrides?: Tree } = {}): { config: KiteConfig; entries: ConfigEntry[] } {
  const env = options.env ?? process.env;
  const config = loadConfig({ file: options.file, env, overrides: options.overrides });
  const fileTree: unknown = options.file ? YAML.parse(fs.readFileSync(options.file, 'utf8')) : undefined;
  const entries: ConfigEntry[] = [];
  const walk = (node: Tree, path: string[]): void => {
    for (const [key, value] of Object.entries(node)) {
      const p = [...path, key];
      if (isMap(value)) {
        walk(value, p);
        continue;
      }
      const dotted = p.join('.');
      const variable = envName(dotted);
      let source: ConfigSource = 'default';
      if (has(options.overrides, p)) source = 'flag';
      else if (env[variable] !== undefined) source = `env ${variable}`;
      else if (has(fileTree, p)) source = 'file';
      entries.push({ key: dotted, value: get(config, p), source });
    }
  };
  walk(ConfigSchema.parse({}) as Tree, []);
  return { config, entries };
}

/** A value as printed: secrets masked, strings quoted only when empty, lists comma-separated. */
export function displayValue(key: string, value: unknown): string {
  if (SECRET.test(key.split('.').pop() ?? '')) return value === '' ? '""' : '****';
  if (Array.isArray(value)) return value.length === 0 ? '[]' : value.map(String).join(',');
  if (value === '') return '""';
  return String(value);
}

/** An aligned table: KEY, VALUE, SOURCE. */
export function formatConfig(entries: ConfigEntry[]): string {
  const rows = [['KEY', 'VALUE', 'SOURCE'], ...entries.map((e) => [e.key, displayValue(e.key, e.value), e.source])];
  const widths = [0, 1].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => `${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]}`.trimEnd()).join('\n') + '\n';
}
