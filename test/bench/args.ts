import { parseArgs } from 'node:util';

/**
 * The command line of a bench script, read with node:util's parseArgs: `--name value` options, each given as a
 * positive integer, a comma-separated list of them, a string, or a flag. An unknown option or a bad value throws,
 * naming it and the script whose header documents the options.
 */
export type ArgKind = 'int' | 'ints' | 'string' | 'flag';

type Value<K extends ArgKind> = K extends 'int' ? number : K extends 'ints' ? number[] : K extends 'string' ? string : boolean;

export function benchArgs<S extends Record<string, ArgKind>>(argv: string[], spec: S, script: string): { [N in keyof S]?: Value<S[N]> } {
  const options = Object.fromEntries(Object.entries(spec).map(([name, kind]) => [name, { type: kind === 'flag' ? 'boolean' : 'string' }])) as Record<
    string,
    { type: 'boolean' | 'string' }
  >;
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new Error(`${(e as Error).message} (see the header of ${script})`);
  }
  const positive = (name: string, text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} needs a positive integer, got ${text}`);
    return n;
  };
  const out: Record<string, unknown> = {};
  for (const [name, kind] of Object.entries(spec)) {
    const v = values[name];
    if (v === undefined) continue;
    if (kind === 'flag') out[name] = v;
    else if (kind === 'string') out[name] = v;
    else if (kind === 'int') out[name] = positive(name, String(v));
    else out[name] = String(v).split(',').map((x) => positive(name, x));
  }
  return out as { [N in keyof S]?: Value<S[N]> };
}

/** The p-th percentile of ascending `sorted` (nearest rank); NaN when empty. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
