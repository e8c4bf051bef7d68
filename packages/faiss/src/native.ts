// Loads the N-API addon built by `pnpm --filter @kite/faiss run build:native` (binding.gyp -> build/Release).
import * as path from 'node:path';
import { FaissError } from './errors';

export interface NativeParams {
  nlist?: number;
  m?: number;
  nbits?: number;
  M?: number;
  efConstruction?: number;
}

/** The addon's index object (native/addon.cc). All arguments are re-checked natively. */
export interface NativeIndex {
  train(vectors: Float32Array): Promise<void>;
  add(vectors: Float32Array, ids: BigInt64Array): Promise<void>;
  search(
    queries: Float32Array, k: number, nprobe: number, ef: number, filter: Uint8Array | null,
    outDistances: Float32Array, outIds: BigInt64Array,
  ): Promise<void>;
  referenceSearch(
    queries: Float32Array, k: number, nprobe: number, ef: number, filter: Uint8Array | null,
    outDistances: Float32Array, outIds: BigInt64Array,
  ): Promise<void>;
  searchRows(queries: Float32Array, k: number, rows: Int32Array, outDistances: Float32Array, outIds: BigInt64Array): boolean;
  serialize(prefix: Uint8Array): Promise<Buffer>;
  ntotal(): number;
  writersWaiting(): number;
  isTrained(): boolean;
  memoryUsage(): number;
  params(): NativeParams;
  free(): void;
}

export interface NativeAddon {
  NativeIndex: {
    create(indexType: string, metric: string, dim: number, params: NativeParams): NativeIndex;
    deserialize(indexType: string, metric: string, dim: number, params: NativeParams, buf: Uint8Array, offset: number): Promise<NativeIndex>;
  };
  setThreads(search: number, build: number): void;
  getThreads(): {
    search: number; build: number; hardware: number; blas: number; searchPool: number; searchSpinUs: number;
    searchPollUs: number; searchBusyNs: number;
  };
  buildInfo(): { library: string; compileOptions: string };
  compareColumn(op: number, data: BigInt64Array | Int32Array | Float32Array | Float64Array, c: bigint | number, n: number, out: Uint32Array): void;
  setHnswBuild(builder: string, simd: string): void;
  getHnswBuild(): { builder: string; simd: string; kernel: string; error: string };
}

/**
 * Where the addon is expected; src/ and dist/ both sit one level below the package root. KITE_FAISS_ADDON names
 * another build of it (the benchmark loads an AVX2 and a generic build side by side this way).
 */
export const ADDON_PATH = process.env.KITE_FAISS_ADDON
  ? path.resolve(process.env.KITE_FAISS_ADDON)
  : path.join(__dirname, '..', 'build', 'Release', 'kite_faiss.node');

/**
 * Read once by libgomp and OpenBLAS when the addon loads them; applied only where the environment does not set them.
 * - OMP_WAIT_POLICY=PASSIVE: idle OpenMP workers sleep instead of spinning. Spinning workers take CPU from the event
 *   loop and from other pool threads; on a loaded 2-core machine faiss's k-means ran several times slower with them.
 * - OPENBLAS_NUM_THREADS=1: one BLAS call, one thread. Parallelism comes from the libuv pool (searches) and faiss's
 *   OpenMP loops (training); OpenBLAS's own spinning threads on top of those oversubscribe the cores.
 */
export const NATIVE_ENV_DEFAULTS: Readonly<Record<string, string>> = {
  OMP_WAIT_POLICY: 'PASSIVE',
  OPENBLAS_NUM_THREADS: '1',
};

let addon: NativeAddon | undefined;

export function loadAddon(): NativeAddon {
  if (addon) return addon;
  const applied: string[] = [];
  for (const [name, value] of Object.entries(NATIVE_ENV_DEFAULTS)) {
    if (process.env[name] === undefined) {
      process.env[name] = value;
      applied.push(name);
    }
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    addon = require(ADDON_PATH) as NativeAddon;
  } catch (e) {
    throw new FaissError(
      'ERR_FAISS_INTERNAL',
      `cannot load the faiss addon at ${ADDON_PATH} (${(e as Error).message}); ` +
        'build it with `pnpm --filter @kite/faiss run build:native` (needs libfaiss-dev, libopenblas-dev, g++)',
    );
  } finally {
    // The libraries have read them; do not pass them on to child processes.
    for (const name of applied) delete process.env[name];
  }
  return addon;
}

/** Which faiss library the loaded addon was linked against. */
export interface FaissBuildInfo {
  /**
   * The SIMD level of the linked faiss, from faiss's own get_compile_options(): "avx2" for the archive built by
   * scripts/install-faiss-simd.sh, "generic" for Debian's libfaiss (the fallback on any other CPU or build failure).
   */
  simd: 'avx2' | 'generic';
  /** binding.gyp's choice when the addon was built (packages/faiss/scripts/faiss-link.js). */
  library: string;
  /** faiss::get_compile_options() of the linked library, e.g. "OPTIMIZE AVX2". */
  compileOptions: string;
  addonPath: string;
}

export function faissBuildInfo(): FaissBuildInfo {
  const info = loadAddon().buildInfo();
  const compileOptions = info.compileOptions.trim();
  return {
    simd: /\bAVX2\b/.test(compileOptions) ? 'avx2' : 'generic',
    library: info.library,
    compileOptions,
    addonPath: ADDON_PATH,
  };
}

/**
 * Comparison kernels over a whole column for filter evaluation (@kite/expr useNativeKernels): bit r of `out` (32-bit
 * words, LSB first) is `data[r] op c` for r < n, later bits of the last word cleared. `op` numbers ==, !=, <, <=, >,
 * >= as 0..5. Int64 columns compare exactly with a bigint; Int32, Float32 and Float64 columns as doubles with a
 * number, as the JavaScript operators do (NaN included). Synchronous, on the calling thread. Bad arguments throw
 * an Error with code ERR_FAISS_BAD_PARAM.
 */
export function compareColumn(op: number, data: BigInt64Array | Int32Array | Float32Array | Float64Array, c: bigint | number, n: number, out: Uint32Array): void {
  loadAddon().compareColumn(op, data, c, n, out);
}
