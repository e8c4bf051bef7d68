// Child process for concurrency.test.ts: runs a fixed set of searches with the search-thread settings its
// environment gives (KITE_FAISS_SEARCH_SPIN_US, KITE_FAISS_SEARCH_POLL_US are read once, when the addon loads) and
// prints the settings it ran with, the ids it found and the CPU time the process used in the 500 ms after its last
// search (a loop left polling would use all of it), as one JSON line.
import { getThreadSettings } from '../index';
import { searchScenario } from './search-scenario';

async function main(): Promise<void> {
  const ids = await searchScenario();
  const t = getThreadSettings();
  const before = process.cpuUsage();
  await new Promise((r) => setTimeout(r, 500));
  const used = process.cpuUsage(before);
  const idleCpuMs = (used.user + used.system) / 1000;
  process.stdout.write(`${JSON.stringify({ spinUs: t.searchSpinUs, pollUs: t.searchPollUs, ids, idleCpuMs })}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
