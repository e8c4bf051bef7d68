import * as fs from 'node:fs';
import * as path from 'node:path';
import { SUMMARY_BEGIN_MARKER, SUMMARY_END_MARKER, computeMatrix, currentMatrix, renderMatrix, renderSummary, textBetween } from './compat-matrix';

const DOC = path.resolve(__dirname, '../../../docs/milvus-wire-notes.md');
const README = path.resolve(__dirname, '../../../README.md');

test('the compatibility matrix in docs/milvus-wire-notes.md is what the code does (re-run `make docs-matrix` if not)', async () => {
  const doc = fs.readFileSync(DOC, 'utf8');
  const inDoc = currentMatrix(doc);
  expect(inDoc).toBeDefined();
  const fromCode = renderMatrix(await computeMatrix());
  // Compared line by line, so a failure names the rows that changed.
  expect(inDoc!.split('\n')).toEqual(fromCode.split('\n'));
}, 60_000);

test('the compatibility summary in README.md is what the code does (re-run `make docs-matrix` if not)', async () => {
  const inReadme = textBetween(fs.readFileSync(README, 'utf8'), SUMMARY_BEGIN_MARKER, SUMMARY_END_MARKER);
  expect(inReadme).toBeDefined();
  expect(inReadme!.split('\n')).toEqual(renderSummary(await computeMatrix()).split('\n'));
}, 60_000);

test('the matrix probes every Milvus type, metric and operator the code supports today (a sanity check of the probes)', async () => {
  const m = await computeMatrix();
  const ok = (xs: { status: { ok: boolean } }[]) => xs.filter((x) => x.status.ok).length;
  // Types main serves: scalars, JSON and every vector type; a probe that broke (e.g. a typo in its params) would
  // turn one of these into an error.
  for (const t of ['Bool', 'Int8', 'Int16', 'Int32', 'Int64', 'Float', 'Double', 'VarChar', 'JSON', 'FloatVector', 'BinaryVector', 'Float16Vector', 'BFloat16Vector', 'SparseFloatVector', 'Int8Vector']) {
    expect(m.dataTypes.find((d) => d.probe.type === t)?.status).toEqual({ ok: true });
  }
  expect(m.indexes.find((i) => i.probe.index === 'HNSW')?.acceptedOn).toContain('FloatVector');
  expect(m.indexes.find((i) => i.probe.index === 'BIN_IVF_FLAT')?.acceptedOn).toEqual(['BinaryVector']);
  expect(m.indexes.find((i) => i.probe.index === 'STL_SORT')?.acceptedOn).toContain('Int64');
  expect(m.indexes.find((i) => i.probe.index === 'Trie')?.acceptedOn).toEqual(['VarChar']);
  expect(m.metrics.find((x) => x.metric === 'JACCARD')?.acceptedOn).toEqual(['BinaryVector']);
  expect(m.metrics.find((x) => x.metric === 'BM25')?.acceptedOn).toEqual(['SparseFloatVector (BM25 function output)']);
  expect(ok(m.filters)).toBeGreaterThan(15);
  expect(m.filters.find((f) => f.probe.operator === 'in')?.status).toEqual({ ok: true });
}, 60_000);
