// Child process for concurrency.test.ts: runs a fixed set of searches with the search-thread settings its
// environment gives (KITE_FAISS_SEARCH_SPIN_US, KITE_FAISS_SEARCH_POLL_US are read once, when the addon loads) and
// prints the settings it ran with and the ids it found, as one JSON line.
import { getThreadSettings } from '../index';
import { searchScenario } from './search-scenario';

async function main(): Promise<void> {
  const ids = await searchScenario();
  const t = getThreadSettings();
  process.stdout.write(`${JSON.stringify({ spinUs: t.searchSpinUs, pollUs: t.searchPollUs, ids })}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
