/**
 * Gray-failure benchmark: one query node of two answers slowly (SIGSTOP for 300 ms of every second) while the same
 * open-loop search load goes through a proxy with hedged reads and outlier detection (the defaults) and a proxy
 * with both off, against the same cluster at the same time (test/chaos/gray.ts describes the run). Prints per proxy
 * and phase the p50/p99, the fault-phase p99 over the steady p99 (goal: <= 2 with the defences on), hedges and
 * outlier ejections, and the load average of the machine. Not a test; test/chaos/gray.test.ts asserts.
 *
 *   test/node_modules/.bin/tsx test/bench/gray-bench.ts [--requests N] [--interval-ms MS] [--env KITE_KEY=VALUE ...]
 *   (--env sets a configuration key of every component, e.g. --env KITE_PROXY_OUTLIER_HOLD_MS=0; the off proxy keeps
 *   hedging and outlier detection off)
 *   (or: make bench-gray)
 */
import { GrayBench, grayTable, ratio, roundRatio, type GrayOptions } from '../chaos/gray';

function parseArgs(argv: string[]): Partial<GrayOptions> {
  const o: Partial<GrayOptions> = {};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const arg = argv[++i] ?? '';
    const v = Number(arg);
    if (flag === '--env' && /^KITE_[A-Z0-9_]+=/.test(arg)) o.env = { ...o.env, [arg.slice(0, arg.indexOf('='))]: arg.slice(arg.indexOf('=') + 1) };
    else if (flag === '--requests' && Number.isInteger(v) && v >= 100) o.requests = v;
    else if (flag === '--interval-ms' && Number.isInteger(v) && v >= 5) o.intervalMs = v;
    else throw new Error(`bad option ${flag} ${arg}: expected --requests N (>= 100), --interval-ms MS (>= 5) or --env KITE_KEY=VALUE`);
  }
  return o;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  console.error('[bench] cluster up: 2 query nodes, 1 data node, 2 proxies (one with hedging and outlier detection off)');
  const bench = await GrayBench.start({ ...options, log: (l) => console.error(l) });
  try {
    const r = await bench.run();
    console.log(grayTable(r));
    const verdict = (x: number): string => (x <= 2 ? 'met' : 'NOT met');
    console.log(
      `\ngoal (fault p99 <= 2 x steady p99), pooled phases: on ${ratio(r.on).toFixed(2)} ${verdict(ratio(r.on))}, off ${ratio(r.off).toFixed(2)} ${verdict(ratio(r.off))}; ` +
        `median of the rounds: on ${roundRatio(r.on).toFixed(2)} ${verdict(roundRatio(r.on))}, off ${roundRatio(r.off).toFixed(2)} ${verdict(roundRatio(r.off))}` +
        `${ratio(r.off) <= 2 ? ' (pooled: the fault did not break the goal even without the defences; the machine was too noisy for the pooled p99 to tell them apart)' : ''}`,
    );
    const errors = [...r.on.steady.errors, ...r.on.fault.errors, ...r.off.steady.errors, ...r.off.fault.errors];
    if (errors.length) console.log(`errors: ${errors.join('; ')}`);
    console.log(`total ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  } finally {
    await bench.dispose();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
