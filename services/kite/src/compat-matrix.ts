/**
 * The compatibility matrix of docs/milvus-wire-notes.md: every Milvus data type, index type, metric and filter
 * operator with Kite's status, "✓" or the error Kite returns. Nothing here states a status: each probe runs the code
 * a request runs (the proxy's schema check, the coordinator's catalogue for CreateCollection and CreateIndex, the
 * proxy's filter check) on a throw-away embedded meta store, and the matrix reports what happened. So when a data
 * type, index or operator gains support, re-running `make docs-matrix` is all the document needs, and the unit test
 * beside this file fails until it is re-run.
 *
 * The probe lists below are Milvus's (its documentation's data types, index types, metrics and filter operators),
 * not Kite's: a probe Kite does not handle shows up with its error instead of disappearing from the matrix.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KiteError, loadConfig, silentLogger } from '@kite/common';
import { EmbeddedMetaStore } from '@kite/metastore';
import { LocalObjectStore } from '@kite/objectstore';
import { FilterCache, checkFilter, schemaToFields } from '@kite/proxy';
import { Catalog, IdAllocator, Tso } from '@kite/querycoord';
import { EmbeddedWal } from '@kite/wal';

type Schema = Parameters<typeof schemaToFields>[0];
type Field = Schema['fields'][number];

/** One Milvus data type, with the type params a schema gives it. */
export interface TypeProbe {
  type: string;
  params?: Record<string, string>;
  elementType?: string;
  /** Shown in the matrix beside the status. */
  note?: string;
}

/** Milvus's data types (2.6), each as a schema declares it. */
export const DATA_TYPE_PROBES: readonly TypeProbe[] = [
  { type: 'Bool' },
  { type: 'Int8' },
  { type: 'Int16' },
  { type: 'Int32' },
  { type: 'Int64' },
  { type: 'Float' },
  { type: 'Double' },
  { type: 'VarChar', params: { max_length: '64' } },
  { type: 'String', params: { max_length: '64' }, note: 'the SDKs send VarChar; String is the proto value 20' },
  { type: 'JSON' },
  { type: 'Array', elementType: 'Int64', params: { max_capacity: '8' } },
  { type: 'FloatVector', params: { dim: '8' } },
  { type: 'BinaryVector', params: { dim: '16' } },
  { type: 'Float16Vector', params: { dim: '8' } },
  { type: 'BFloat16Vector', params: { dim: '8' } },
  { type: 'SparseFloatVector' },
  { type: 'Int8Vector', params: { dim: '8' } },
  { type: 'Geometry', note: 'Milvus 2.6' },
  { type: 'Timestamptz', note: 'Milvus 2.6' },
];

/** Field-level options of Milvus's schemas, each probed on one field. */
export interface OptionProbe {
  option: string;
  field: Partial<Field> & { data_type: string };
  schema?: Partial<Schema>;
  numPartitions?: number;
}

export const FIELD_OPTION_PROBES: readonly OptionProbe[] = [
  { option: 'primary key Int64', field: { data_type: 'Int64', is_primary_key: true } },
  { option: 'primary key VarChar', field: { data_type: 'VarChar', is_primary_key: true, type_params: [{ key: 'max_length', value: '64' }] } },
  { option: 'auto_id', field: { data_type: 'Int64', is_primary_key: true, autoID: true } },
  { option: 'nullable=True', field: { data_type: 'Int64', nullable: true } },
  { option: 'default_value', field: { data_type: 'Int64', default_value: { data: 'long_data', long_data: '7' } as Field['default_value'] } },
  { option: 'is_partition_key (Int64)', field: { data_type: 'Int64', is_partition_key: true }, numPartitions: 4 },
  { option: 'is_partition_key (VarChar)', field: { data_type: 'VarChar', is_partition_key: true, type_params: [{ key: 'max_length', value: '64' }] }, numPartitions: 4 },
  { option: 'is_clustering_key', field: { data_type: 'Int64', is_clustering_key: true } },
  { option: 'enable_dynamic_field', field: { data_type: 'Int64' }, schema: { enable_dynamic_field: true } },
  { option: 'enable_analyzer / enable_match (VarChar)', field: { data_type: 'VarChar', type_params: [{ key: 'max_length', value: '64' }, { key: 'enable_analyzer', value: 'true' }, { key: 'enable_match', value: 'true' }] } },
];

/** An index type and the field type Milvus documents it for (where an unsupported index's error is taken). */
export interface IndexProbe {
  index: string;
  /** The index_type sent, when the row is a variant of `index` (default: `index`). */
  indexType?: string;
  kind: 'vector' | 'scalar' | 'both';
  /** The data type the error of a refused index is shown for. */
  home: string;
  params?: Record<string, string>;
}

export const INDEX_PROBES: readonly IndexProbe[] = [
  { index: 'FLAT', kind: 'vector', home: 'FloatVector' },
  { index: 'IVF_FLAT', kind: 'vector', home: 'FloatVector', params: { nlist: '8' } },
  { index: 'IVF_SQ8', kind: 'vector', home: 'FloatVector', params: { nlist: '8' } },
  { index: 'IVF_PQ', kind: 'vector', home: 'FloatVector', params: { nlist: '8', m: '4', nbits: '8' } },
  { index: 'IVF_RABITQ', kind: 'vector', home: 'FloatVector', params: { nlist: '8' } },
  { index: 'HNSW', kind: 'vector', home: 'FloatVector', params: { M: '8', efConstruction: '64' } },
  { index: 'HNSW_SQ', kind: 'vector', home: 'FloatVector', params: { M: '8', efConstruction: '64', sq_type: 'SQ8' } },
  { index: 'HNSW_PQ', kind: 'vector', home: 'FloatVector', params: { M: '8', efConstruction: '64', m: '4', nbits: '8' } },
  { index: 'DISKANN', kind: 'vector', home: 'FloatVector' },
  { index: 'SCANN', kind: 'vector', home: 'FloatVector', params: { nlist: '8' } },
  { index: 'GPU_CAGRA', kind: 'vector', home: 'FloatVector' },
  { index: 'GPU_IVF_FLAT', kind: 'vector', home: 'FloatVector', params: { nlist: '8' } },
  { index: 'GPU_IVF_PQ', kind: 'vector', home: 'FloatVector', params: { nlist: '8', m: '4', nbits: '8' } },
  { index: 'GPU_BRUTE_FORCE', kind: 'vector', home: 'FloatVector' },
  { index: 'BIN_FLAT', kind: 'vector', home: 'BinaryVector' },
  { index: 'BIN_IVF_FLAT', kind: 'vector', home: 'BinaryVector', params: { nlist: '8' } },
  { index: 'SPARSE_INVERTED_INDEX', kind: 'vector', home: 'SparseFloatVector' },
  { index: 'SPARSE_WAND', kind: 'vector', home: 'SparseFloatVector' },
  { index: 'AUTOINDEX', kind: 'both', home: 'FloatVector' },
  { index: 'INVERTED', kind: 'scalar', home: 'VarChar' },
  { index: 'INVERTED on a JSON path', indexType: 'INVERTED', kind: 'scalar', home: 'JSON', params: { json_path: 'f["k"]', json_cast_type: 'double' } },
  { index: 'STL_SORT', kind: 'scalar', home: 'Int64' },
  { index: 'Trie', kind: 'scalar', home: 'VarChar' },
  { index: 'BITMAP', kind: 'scalar', home: 'Int32' },
  { index: 'NGRAM', kind: 'scalar', home: 'VarChar', params: { min_gram: '2', max_gram: '3' } },
  { index: 'RTREE', kind: 'scalar', home: 'Geometry' },
];

/** Milvus's metrics and the vector type each is documented for (where a refused metric's error is taken). */
export const METRIC_PROBES: readonly { metric: string; home: string }[] = [
  { metric: 'L2', home: 'FloatVector' },
  { metric: 'IP', home: 'FloatVector' },
  { metric: 'COSINE', home: 'FloatVector' },
  { metric: 'HAMMING', home: 'BinaryVector' },
  { metric: 'JACCARD', home: 'BinaryVector' },
  { metric: 'SUBSTRUCTURE', home: 'BinaryVector' },
  { metric: 'SUPERSTRUCTURE', home: 'BinaryVector' },
  { metric: 'MHJACCARD', home: 'BinaryVector' },
  { metric: 'BM25', home: 'SparseFloatVector' },
];

/**
 * Milvus's filter operators and functions, each as one expression over the probe collection's fields (named after
 * their types: `i64` Int64, `s` VarChar with enable_match, `j` JSON, `a` Array of Int64, ...; dynamic field on).
 * `needs` names the data types (or field options, e.g. nullable=True) the expression's fields have; `params` are
 * template values. `n` is a nullable Int64 field, present when nullable fields are accepted.
 */
export interface FilterProbe {
  group: string;
  operator: string;
  expr: string;
  needs?: string[];
  params?: Record<string, unknown>;
}

export const FILTER_PROBES: readonly FilterProbe[] = [
  { group: 'comparison', operator: '==', expr: 'i64 == 3' },
  { group: 'comparison', operator: '!=', expr: 's != "x"', needs: ['VarChar'] },
  { group: 'comparison', operator: '>, >=, <, <=', expr: 'i64 > 1 and i32 >= 2 and d < 3.5 and f <= 4' },
  { group: 'comparison', operator: 'chained range', expr: '1 < i64 <= 9' },
  { group: 'comparison', operator: 'Bool literal', expr: 'b == true' },
  { group: 'comparison', operator: 'field op field', expr: 'i64 > i32' },
  { group: 'membership', operator: 'in', expr: 'i64 in [1, 2, 3]' },
  { group: 'membership', operator: 'not in', expr: 's not in ["x", "y"]', needs: ['VarChar'] },
  { group: 'string', operator: 'like (prefix, infix, suffix)', expr: 's like "ab%" or s like "%b%" or s like "%c"', needs: ['VarChar'] },
  { group: 'string', operator: 'like with _ (one character)', expr: 's like "a_p%"', needs: ['VarChar'] },
  { group: 'logical', operator: 'and, or, not', expr: 'not (i64 == 1 or i8 == 2) and b' },
  { group: 'logical', operator: '&&, ||, !', expr: '!(i64 == 1 || i8 == 2) && b' },
  { group: 'logical', operator: 'upper-case keywords', expr: 'i64 IN [1, 2] AND NOT (s LIKE "a%") OR b == TRUE', needs: ['VarChar'] },
  { group: 'arithmetic', operator: '+, -, *, /, %', expr: 'i64 + 1 == 2 and i64 - 1 == 0 and i64 * 2 == 2 and d / 2 < 1 and i64 % 2 == 1' },
  { group: 'arithmetic', operator: '**', expr: 'i64 ** 2 == 4' },
  { group: 'null', operator: 'is null, is not null', expr: 'n is null or n is not null', needs: ['nullable=True'] },
  { group: 'null', operator: 'comparison with null', expr: 'n > 3', needs: ['nullable=True'] },
  { group: 'JSON', operator: 'path access j["k"]', expr: 'j["k"] == 1 and j["n"]["m"] > 2', needs: ['JSON'] },
  { group: 'JSON', operator: 'JSON array element j["t"][0]', expr: 'j["t"][0] == 1', needs: ['JSON'] },
  { group: 'JSON', operator: 'json_contains', expr: 'json_contains(j["t"], 1)', needs: ['JSON'] },
  { group: 'JSON', operator: 'json_contains_all', expr: 'json_contains_all(j["t"], [1, 2])', needs: ['JSON'] },
  { group: 'JSON', operator: 'json_contains_any', expr: 'json_contains_any(j["t"], [1, 2])', needs: ['JSON'] },
  { group: 'JSON', operator: 'exists', expr: 'exists j["k"]', needs: ['JSON'] },
  { group: 'JSON', operator: 'dynamic field', expr: 'color == "red" and $meta["size"] > 2' },
  { group: 'JSON', operator: 'exists on a dynamic key', expr: 'exists $meta["size"]' },
  { group: 'Array', operator: 'array_contains', expr: 'array_contains(a, 1)', needs: ['Array'] },
  { group: 'Array', operator: 'array_contains_all', expr: 'array_contains_all(a, [1, 2])', needs: ['Array'] },
  { group: 'Array', operator: 'array_contains_any', expr: 'array_contains_any(a, [1, 2])', needs: ['Array'] },
  { group: 'Array', operator: 'array_length', expr: 'array_length(a) == 2', needs: ['Array'] },
  { group: 'Array', operator: 'element access a[0]', expr: 'a[0] == 1', needs: ['Array'] },
  { group: 'text', operator: 'text_match', expr: 'text_match(s, "apple")', needs: ['VarChar'] },
  { group: 'text', operator: 'phrase_match', expr: 'phrase_match(s, "red apple", 1)', needs: ['VarChar'] },
  { group: 'template', operator: 'template values {x}', expr: 'i64 in {ids} and s == {name}', needs: ['VarChar'], params: { ids: [1, 2], name: 'x' } },
  { group: 'misc', operator: 'random_sample', expr: 'random_sample(0.1)' },
  { group: 'misc', operator: 'ST_* (geometry)', expr: 'ST_INTERSECTS(g, "POINT (1 1)")', needs: ['Geometry'] },
];

/** The probe collection's field for each data type (the names FILTER_PROBES use). */
const FIELD_NAMES: Record<string, string> = {
  Bool: 'b', Int8: 'i8', Int16: 'i16', Int32: 'i32', Int64: 'i64', Float: 'f', Double: 'd', VarChar: 's', JSON: 'j', Array: 'a',
  Geometry: 'g', Timestamptz: 'ts',
};

export type Status = { ok: true } | { ok: false; error: string };

export interface Matrix {
  dataTypes: { probe: TypeProbe; status: Status }[];
  options: { probe: OptionProbe; status: Status }[];
  indexes: { probe: IndexProbe; acceptedOn: string[]; home: Status }[];
  metrics: { metric: string; acceptedOn: string[]; home: Status }[];
  filters: { probe: FilterProbe; status: Status }[];
}

const errorText = (e: unknown): string => (e instanceof KiteError ? `${e.kind}: ${e.message}` : `internal error: ${(e as Error).message ?? String(e)}`);

async function attempt(fn: () => Promise<unknown>): Promise<Status> {
  try {
    await fn();
    return { ok: true };
  } catch (e) {
    return { ok: false, error: errorText(e) };
  }
}

function kvList(params: Record<string, string> | undefined): { key: string; value: string }[] {
  return Object.entries(params ?? {}).map(([key, value]) => ({ key, value }));
}

function field(name: string, data_type: string, extra: Partial<Field> = {}): Field {
  return {
    fieldID: '0', name, is_primary_key: false, description: '', data_type: data_type as Field['data_type'], type_params: [], index_params: [],
    autoID: false, state: 0, element_type: 0, default_value: null, is_dynamic: false, is_partition_key: false, is_clustering_key: false,
    nullable: false, is_function_output: false, ...extra,
  };
}

function probeField(name: string, p: TypeProbe): Field {
  return field(name, p.type, { type_params: kvList(p.params), element_type: (p.elementType ?? 0) as Field['element_type'] });
}

function schema(name: string, fields: Field[], extra: Partial<Schema> = {}): Schema {
  return {
    name, description: '', autoID: false, fields, enable_dynamic_field: false, properties: [], functions: [], dbName: '',
    struct_array_fields: [], version: 0, enable_namespace: false, ...extra,
  };
}

const PK = (): Field => field('id', 'Int64', { is_primary_key: true });
const VEC = (): Field => field('vec', 'FloatVector', { type_params: [{ key: 'dim', value: '8' }] });
const isVectorType = (t: string): boolean => t.endsWith('Vector');

/**
 * The catalogue the coordinator keeps, on embedded stores in a temporary directory, and CreateCollection as the
 * proxy runs it (schemaToFields, then the coordinator).
 */
class Probe {
  private n = 0;
  private constructor(
    private readonly dir: string,
    private readonly meta: EmbeddedMetaStore,
    private readonly wal: EmbeddedWal,
    readonly catalog: Catalog,
  ) {}

  static async open(): Promise<Probe> {
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kite-compat-'));
    const root = 'compat';
    const meta = await EmbeddedMetaStore.open(path.join(dir, 'meta'));
    const wal = await EmbeddedWal.open(path.join(dir, 'wal'));
    const objects = await LocalObjectStore.open(path.join(dir, 'objects'));
    const catalog = new Catalog(meta, wal, objects, root, new IdAllocator(meta, root, 100), new Tso(meta, root, { windowMs: 60_000, renewBeforeMs: 500 }), silentLogger);
    await catalog.start();
    return new Probe(dir, meta, wal, catalog);
  }

  async close(): Promise<void> {
    await this.wal.close();
    await this.meta.close();
    await fs.promises.rm(this.dir, { recursive: true, force: true });
  }

  /** Creates a collection as the CreateCollection handler does; returns its name. */
  async create(s: Omit<Schema, 'name'>, numPartitions = 0): Promise<string> {
    const name = `c${++this.n}`;
    const { fields, dynamic, description, functions } = schemaToFields({ ...s, name }, name);
    await this.catalog.createCollection({
      name, description, fields, enable_dynamic_field: dynamic, shards_num: 1, consistency_level: 'Bounded', properties: {},
      num_partitions: fields.some((f) => f.is_partition_key) ? numPartitions || 16 : 0, db_name: '',
      functions: functions.map((f) => ({
        name: f.name, id: f.id, description: f.description, type: f.type, input_field_names: f.inputFieldNames, output_field_names: f.outputFieldNames, params: f.params,
      })),
    });
    return name;
  }

  /** A collection with a field `f` of the probed type (beside a primary key and a FloatVector, where needed). */
  createWith(p: TypeProbe): Promise<string> {
    const fields = [PK(), probeField('f', p)];
    if (!isVectorType(p.type)) fields.push(VEC());
    return this.create(schema('', fields));
  }

  /** A collection whose SparseFloatVector `f` is the output of a BM25 function over `text`. */
  createBm25(): Promise<string> {
    const text = field('text', 'VarChar', { type_params: [{ key: 'max_length', value: '256' }, { key: 'enable_analyzer', value: 'true' }] });
    const out = field('f', 'SparseFloatVector', { is_function_output: true });
    return this.create(schema('', [PK(), text, out], {
      functions: [{ name: 'bm25', id: '0', description: '', type: 1, input_field_names: ['text'], input_field_ids: [], output_field_names: ['f'], output_field_ids: [], params: [] }],
    }));
  }

  async index(collection: string, params: Record<string, string>): Promise<Status> {
    const status = await attempt(() => this.catalog.createIndex(collection, 'f', 'idx', params, ''));
    if (status.ok) await this.catalog.dropIndex(collection, 'f', 'idx', '');
    return status;
  }
}

const METRIC_OF: Record<string, string> = { BinaryVector: 'HAMMING', SparseFloatVector: 'IP' };

/** Runs every probe. */
export async function computeMatrix(): Promise<Matrix> {
  const probe = await Probe.open();
  try {
    const cfg = loadConfig({ env: {} });
    const dataTypes: Matrix['dataTypes'] = [];
    const collectionOf = new Map<string, string>();
    for (const p of DATA_TYPE_PROBES) {
      let name = '';
      const status = await attempt(async () => {
        name = await probe.createWith(p);
      });
      if (status.ok) collectionOf.set(p.type, name);
      dataTypes.push({ probe: p, status });
    }

    const options: Matrix['options'] = [];
    for (const p of FIELD_OPTION_PROBES) {
      const f = field('f', p.field.data_type, p.field);
      const fields = f.is_primary_key ? [f, VEC()] : [PK(), f, VEC()];
      options.push({ probe: p, status: await attempt(() => probe.create(schema('', fields, p.schema), p.numPartitions)) });
    }

    const indexes: Matrix['indexes'] = [];
    for (const p of INDEX_PROBES) {
      const acceptedOn: string[] = [];
      let home: Status = { ok: false, error: `no ${p.home} field: ${p.home} is refused at CreateCollection (see Data types)` };
      for (const t of DATA_TYPE_PROBES) {
        const coll = collectionOf.get(t.type);
        if (!coll) continue;
        const params: Record<string, string> = { index_type: p.indexType ?? p.index, ...(p.params ?? {}) };
        if (isVectorType(t.type)) params.metric_type = METRIC_OF[t.type] ?? 'L2';
        const status = await probe.index(coll, params);
        if (status.ok) acceptedOn.push(t.type);
        if (t.type === p.home) home = status;
      }
      indexes.push({ probe: p, acceptedOn, home });
    }

    const metrics: Matrix['metrics'] = [];
    let bm25: string | undefined;
    const bm25Status = await attempt(async () => {
      bm25 = await probe.createBm25();
    });
    for (const { metric, home: homeType } of METRIC_PROBES) {
      const acceptedOn: string[] = [];
      let home: Status = { ok: false, error: `no ${homeType} field: ${homeType} is refused at CreateCollection (see Data types)` };
      for (const t of DATA_TYPE_PROBES.filter((x) => isVectorType(x.type))) {
        const coll = t.type === 'SparseFloatVector' && metric === 'BM25' ? bm25 : collectionOf.get(t.type);
        if (!coll) {
          if (t.type === homeType && metric === 'BM25' && !bm25Status.ok) home = bm25Status;
          continue;
        }
        const status = await probe.index(coll, { index_type: 'AUTOINDEX', metric_type: metric });
        if (status.ok) acceptedOn.push(t.type === 'SparseFloatVector' && metric === 'BM25' ? 'SparseFloatVector (BM25 function output)' : t.type);
        if (t.type === homeType) home = status;
      }
      metrics.push({ metric, acceptedOn, home });
    }

    // One collection with a field of every accepted scalar type, for the filters.
    const filterFields: Field[] = [PK()];
    for (const p of DATA_TYPE_PROBES) {
      const name = FIELD_NAMES[p.type];
      if (!name || !collectionOf.has(p.type) || name === 'i64') continue;
      const f = probeField(name, p);
      if (p.type === 'VarChar') f.type_params.push({ key: 'enable_analyzer', value: 'true' }, { key: 'enable_match', value: 'true' });
      filterFields.push(f);
    }
    filterFields.push(field('i64', 'Int64'), VEC());
    const accepted = new Set([...collectionOf.keys(), ...options.filter((o) => o.status.ok).map((o) => o.probe.option)]);
    if (accepted.has('nullable=True')) filterFields.push(field('n', 'Int64', { nullable: true }));
    const filterColl = await probe.create(schema('', filterFields, { enable_dynamic_field: true }));
    const meta = probe.catalog.get(filterColl, '');
    const filters: Matrix['filters'] = [];
    for (const p of FILTER_PROBES) {
      const missing = (p.needs ?? []).filter((t) => !accepted.has(t));
      if (missing.length > 0) {
        filters.push({ probe: p, status: { ok: false, error: `needs ${missing.join(' and ')} fields, which are refused at CreateCollection (see Data types and Field options)` } });
        continue;
      }
      const values = p.params ? templateValues(p.params) : undefined;
      filters.push({ probe: p, status: await attempt(async () => checkFilter({ filters: new FilterCache(0, { maxLength: cfg.proxy.maxFilterLength }) }, meta, p.expr, values)) });
    }
    return { dataTypes, options, indexes, metrics, filters };
  } finally {
    await probe.close();
  }
}

/** Template values as the SDKs send them (expr_template_values). */
function templateValues(params: Record<string, unknown>): Parameters<typeof checkFilter>[3] {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) {
    if (Array.isArray(v)) out[k] = { val: 'array_val', array_val: { data: 'long_data', long_data: { data: v.map(String) } } };
    else if (typeof v === 'string') out[k] = { val: 'string_val', string_val: v };
    else out[k] = { val: 'int64_val', int64_val: String(v) };
  }
  return out as Parameters<typeof checkFilter>[3];
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const show = (s: Status): string => (s.ok ? '✓' : `✗ ${cell(s.error)}`);

export const BEGIN_MARKER = '<!-- compat-matrix:begin (generated by `make docs-matrix` from the code; do not edit) -->';
export const END_MARKER = '<!-- compat-matrix:end -->';

/** The matrix as the Markdown between the markers of docs/milvus-wire-notes.md. */
export function renderMatrix(m: Matrix): string {
  const out: string[] = [];
  out.push(
    'Each status comes from running Kite\'s own checks (the proxy\'s schema and filter checks, the coordinator\'s',
    'CreateCollection and CreateIndex) on a probe: ✓, or ✗ and the error a client gets (error kind: message). A unit',
    'test (`services/kite/src/compat-matrix.test.ts`) fails when this section and the code disagree. Index types',
    'and metrics are checked at CreateIndex on a field of each type; filters are parsed and type-checked against a',
    'collection with a field of each accepted type (`b` Bool, `i8`..`i64`, `f` Float, `d` Double, `s` VarChar with',
    'enable_match, `j` JSON, `a` Array of Int64, `n` nullable Int64; dynamic field on).',
    '',
    '### Data types',
    '',
    '| Milvus type | Kite | |',
    '|---|---|---|',
  );
  for (const { probe, status } of m.dataTypes) {
    const decl = [probe.elementType ? `element_type=${probe.elementType}` : '', ...Object.entries(probe.params ?? {}).map(([k, v]) => `${k}=${v}`)].filter(Boolean).join(', ');
    out.push(`| ${probe.type}${decl ? ` (${decl})` : ''} | ${show(status)} | ${probe.note ?? ''} |`);
  }
  out.push('', '### Field options', '', '| option | Kite |', '|---|---|');
  for (const { probe, status } of m.options) out.push(`| ${probe.option} | ${show(status)} |`);
  out.push('', '### Index types', '', '| index type | accepted on | Kite on its documented field type |', '|---|---|---|');
  for (const { probe, acceptedOn, home } of m.indexes) {
    out.push(`| ${probe.index} (${probe.kind}) | ${acceptedOn.join(', ') || '—'} | ${probe.home}: ${show(home)} |`);
  }
  out.push('', '### Metrics (CreateIndex with AUTOINDEX)', '', '| metric | accepted on | Kite on its documented field type |', '|---|---|---|');
  for (const { metric, acceptedOn, home } of m.metrics) {
    const homeType = METRIC_PROBES.find((x) => x.metric === metric)?.home ?? '';
    out.push(`| ${metric} | ${acceptedOn.join(', ') || '—'} | ${homeType}: ${show(home)} |`);
  }
  out.push('', '### Filter operators and functions', '', '| group | operator | probe | Kite |', '|---|---|---|---|');
  for (const { probe, status } of m.filters) {
    out.push(`| ${probe.group} | ${cell(probe.operator)} | \`${cell(probe.expr)}\` | ${show(status)} |`);
  }
  return out.join('\n');
}

export const SUMMARY_BEGIN_MARKER = '<!-- compat-summary:begin (generated by `make docs-matrix` from the code; do not edit) -->';
export const SUMMARY_END_MARKER = '<!-- compat-summary:end -->';

/**
 * The README's short form of the matrix: per category, how many of Milvus's entries Kite serves and the names of
 * those it refuses (the full matrix, with each error, is in docs/milvus-wire-notes.md).
 */
export function renderSummary(m: Matrix): string {
  const row = (category: string, entries: { name: string; ok: boolean }[]): string => {
    const refused = entries.filter((e) => !e.ok).map((e) => cell(e.name));
    const served = entries.length - refused.length;
    return `| ${category} | ${served} of ${entries.length} ✓ | ${refused.join(', ') || '—'} |`;
  };
  return [
    '| category | served | refused (with the error a client gets: docs/milvus-wire-notes.md, "Compatibility matrix") |',
    '|---|---|---|',
    row('data types', m.dataTypes.map(({ probe, status }) => ({ name: probe.type, ok: status.ok }))),
    row('field options', m.options.map(({ probe, status }) => ({ name: probe.option, ok: status.ok }))),
    row('index types', m.indexes.map(({ probe, home }) => ({ name: probe.index, ok: home.ok }))),
    row('metrics', m.metrics.map(({ metric, home }) => ({ name: metric, ok: home.ok }))),
    row('filter operators and functions', m.filters.map(({ probe, status }) => ({ name: probe.operator, ok: status.ok }))),
  ].join('\n');
}

/** `doc` with the text between `begin` and `end` replaced by `body`; throws, naming the markers, if they are missing. */
export function replaceBetween(doc: string, begin: string, end: string, body: string): string {
  const start = doc.indexOf(begin);
  const stop = doc.indexOf(end);
  if (start < 0 || stop < start) throw new Error(`the generated-section markers are missing: add "${begin}" and "${end}"`);
  return `${doc.slice(0, start + begin.length)}\n${body}\n${doc.slice(stop)}`;
}

/** The text between `begin` and `end` (without the newlines next to them), or undefined without the markers. */
export function textBetween(doc: string, begin: string, end: string): string | undefined {
  const start = doc.indexOf(begin);
  const stop = doc.indexOf(end);
  if (start < 0 || stop < start) return undefined;
  return doc.slice(start + begin.length, stop).replace(/^\n/, '').replace(/\n$/, '');
}

/** `doc` with the text between the matrix markers replaced by `body`; throws if the markers are missing. */
export function replaceMatrix(doc: string, body: string): string {
  return replaceBetween(doc, BEGIN_MARKER, END_MARKER, body);
}

/** The text between the matrix markers (without the newlines next to them). */
export function currentMatrix(doc: string): string | undefined {
  return textBetween(doc, BEGIN_MARKER, END_MARKER);
}
