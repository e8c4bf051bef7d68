import { FaissError } from './errors';
import { loadAddon } from './native';

// Which loop builds an HNSW graph (native/hnsw-build.cc). Kite's own loop is the default: faiss's algorithm over
// faiss's graph structure, at about two thirds of the CPU time of faiss's IndexHNSW::add (README, "HNSW build").
// faiss's loop stays available for comparison. Process-wide; read at the start of every add.

export type HnswBuilder = 'kite' | 'faiss';
export type HnswBuildSimd = 'auto' | 'avx512' | 'avx2' | 'generic';
export const HNSW_BUILDERS: readonly HnswBuilder[] = ['kite', 'faiss'];
export const HNSW_BUILD_SIMD: readonly HnswBuildSimd[] = ['auto', 'avx512', 'avx2', 'generic'];

export interface HnswBuildSettings {
  /** kite (default) or faiss. Initial value: KITE_FAISS_HNSW_BUILD. */
  builder: HnswBuilder;
  /** The widest distance kernel Kite's loop may use. Initial value: KITE_FAISS_HNSW_SIMD (auto). */
  simd: HnswBuildSimd;
}

export interface HnswBuildInfo extends HnswBuildSettings {
  /** The kernel Kite's loop runs on this CPU with that cap. */
  kernel: 'avx512' | 'avx2' | 'generic';
  /** Set when KITE_FAISS_HNSW_BUILD or KITE_FAISS_HNSW_SIMD held a bad value: every HNSW add fails with it until
   * setHnswBuildSettings is called. */
  error?: string;
}

export function getHnswBuildSettings(): HnswBuildInfo {
  const s = loadAddon().getHnswBuild();
  return {
    builder: s.builder as HnswBuilder,
    simd: s.simd as HnswBuildSimd,
    kernel: s.kernel as HnswBuildInfo['kernel'],
    ...(s.error ? { error: s.error } : {}),
  };
}

/** Changes the loop and the kernel cap for later HNSW adds (process-wide); clears an environment error. */
export function setHnswBuildSettings(s: Partial<HnswBuildSettings>): void {
  const cur = getHnswBuildSettings();
  const builder = s.builder ?? cur.builder;
  const simd = s.simd ?? cur.simd;
  if (!HNSW_BUILDERS.includes(builder)) {
    throw new FaissError('ERR_FAISS_BAD_PARAM', `builder must be one of ${HNSW_BUILDERS.join(', ')}, got ${String(builder)}`);
  }
  if (!HNSW_BUILD_SIMD.includes(simd)) {
    throw new FaissError('ERR_FAISS_BAD_PARAM', `simd must be one of ${HNSW_BUILD_SIMD.join(', ')}, got ${String(simd)}`);
  }
  loadAddon().setHnswBuild(builder, simd);
}
