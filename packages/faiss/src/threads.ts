import * as os from 'node:os';
import { loadAddon } from './native';
import { FaissError } from './errors';

// How a search uses the 2+ cores. Every search call runs on the addon's search threads (one per core, or
// KITE_FAISS_SEARCH_THREADS), so parallelism comes from having several calls in flight: concurrent requests, and
// search() cutting a large batch into chunks (at least MIN_ROWS_PER_CHUNK rows each, at most `searchParallelism` of
// them). Inside one call faiss's OpenMP is held to `searchThreads` (1): OpenMP teams started from every search
// thread would fight over the cores.
// train/add are bulk jobs that hold the index exclusively, so they use OpenMP on all cores (`buildThreads` 0).

export interface ThreadSettings {
  /** OpenMP threads one search call may use. Default 1. */
  searchThreads: number;
  /** OpenMP threads one train/add call may use. 0 (the default) = all cores. */
  buildThreads: number;
  /** At most this many parallel calls for one large search() batch. Default: the number of cores. */
  searchParallelism: number;
}

export const MIN_ROWS_PER_CHUNK = 32;

let parallelism = Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);

export function searchParallelism(): number {
  return parallelism;
}

/** What the addon's search threads were started with (environment variables read once, at load). */
export interface SearchPoolInfo {
  /** Search threads (KITE_FAISS_SEARCH_THREADS, default: cores). */
  searchPool: number;
  /** How long an idle search thread spins for its next search before it sleeps (KITE_FAISS_SEARCH_SPIN_US, 50). */
  searchSpinUs: number;
  /** How long the event loop polls for a pending search instead of sleeping (KITE_FAISS_SEARCH_POLL_US, 0 = off). */
  searchPollUs: number;
}

/** Reads the thread settings, the number of cores faiss sees and OpenBLAS's thread count (see native.ts). */
export function getThreadSettings(): ThreadSettings & SearchPoolInfo & { hardwareThreads: number; blasThreads: number } {
  const t = loadAddon().getThreads();
  return {
    searchThreads: t.search, buildThreads: t.build, searchParallelism: parallelism, hardwareThreads: t.hardware,
    blasThreads: t.blas, searchPool: t.searchPool, searchSpinUs: t.searchSpinUs, searchPollUs: t.searchPollUs,
  };
}

/** Seconds the search threads have spent running searches since the addon loaded (all indexes). */
export function searchBusySeconds(): number {
  return loadAddon().getThreads().searchBusyNs / 1e9;
}

/** Changes the thread settings used by later calls (process-wide). */
export function setThreadSettings(s: Partial<ThreadSettings>): void {
  const cur = getThreadSettings();
  const next = {
    searchThreads: s.searchThreads ?? cur.searchThreads,
    buildThreads: s.buildThreads ?? cur.buildThreads,
    searchParallelism: s.searchParallelism ?? cur.searchParallelism,
  };
  const check = (name: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min || v > 1024) {
      throw new FaissError('ERR_FAISS_BAD_PARAM', `${name} must be an integer in [${min}, 1024], got ${String(v)}`);
    }
  };
  check('searchThreads', next.searchThreads, 0);
  check('buildThreads', next.buildThreads, 0);
  check('searchParallelism', next.searchParallelism, 1);
  loadAddon().setThreads(next.searchThreads, next.buildThreads);
  parallelism = next.searchParallelism;
}
