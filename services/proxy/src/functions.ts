import { analyzerEnabled, analyzerOfField } from '@kite/analyzer';
import { KiteError, clip } from '@kite/common';
import type { CollectionSchema, FunctionSchema, FunctionSchemaOut } from '@kite/proto';
import type { FieldSchema } from '@kite/rpc';
import type { CollectionMeta, Column, FieldMeta, FunctionMeta, SparseRow } from '@kite/segment';
import { termFrequencies } from './bm25';

/**
 * Collection functions (Milvus 2.5+ FunctionSchema). Kite runs BM25: one VarChar input field with an analyzer, one
 * SparseFloatVector output field that the proxy fills on insert and upsert (term id -> term frequency of the text,
 * analysed with the input field's analyzer) and that searches take text for. Other function types (text embedding,
 * rerank) are refused by name.
 */

const kv = (list: FunctionSchema['params'] | undefined): Record<string, string> => Object.fromEntries((list ?? []).map((p) => [p.key, p.value]));

/** Milvus's FunctionType as it arrives: the enum's name or number. */
function typeName(t: FunctionSchema['type']): string {
  if (typeof t === 'number') return ['Unknown', 'BM25', 'TextEmbedding', 'Rerank'][t] ?? String(t);
  return String(t);
}

/** Validates the schema's functions against its fields as Milvus does; errors name the function and the field. */
export function checkFunctions(schema: CollectionSchema, fields: FieldSchema[]): FunctionMeta[] {
  const out: FunctionMeta[] = [];
  const names = new Set<string>();
  const outputs = new Set<string>();
  (schema.functions ?? []).forEach((fn, i) => {
    const name = fn.name ?? '';
    if (!name) throw new KiteError('IllegalSchema', `function ${i} has no name; give each function a name`);
    if (names.has(name)) throw new KiteError('IllegalSchema', `duplicate function name "${clip(name, 128)}"; give each function its own name`);
    names.add(name);
    const type = typeName(fn.type);
    if (type !== 'BM25') {
      throw new KiteError('IllegalSchema', `function "${clip(name, 128)}": function type ${clip(type, 32)} is not supported by Kite; only BM25 functions are`);
    }
    const inputs = fn.input_field_names ?? [];
    const outs = fn.output_field_names ?? [];
    if (inputs.length !== 1) throw new KiteError('IllegalSchema', `function "${name}": BM25 function only need 1 input field, but got ${inputs.length}`);
    if (outs.length !== 1) throw new KiteError('IllegalSchema', `function "${name}": BM25 function only need 1 output field, but got ${outs.length}`);
    const input = fields.find((f) => f.name === inputs[0]);
    if (!input) throw new KiteError('IllegalSchema', `function "${name}": input field "${clip(inputs[0]!, 128)}" not found in the schema`);
    if (input.data_type !== 'VarChar') {
      throw new KiteError('IllegalSchema', `function "${name}": BM25 function input field must be a VARCHAR field, got ${input.data_type} (field "${input.name}")`);
    }
    if (!analyzerEnabled({ name: input.name, typeParams: input.type_params })) {
      throw new KiteError('IllegalSchema', `function "${name}": BM25 function input field "${input.name}" must set enable_analyzer to true`);
    }
    const output = fields.find((f) => f.name === outs[0]);
    if (!output) throw new KiteError('IllegalSchema', `function "${name}": output field "${clip(outs[0]!, 128)}" not found in the schema`);
    if (output.data_type !== 'SparseFloatVector') {
      throw new KiteError('IllegalSchema', `function "${name}": BM25 function output field must be a SPARSE_FLOAT_VECTOR field, got ${output.data_type} (field "${output.name}")`);
    }
    if (output.name === input.name) throw new KiteError('IllegalSchema', `function "${name}": a field cannot be both input and output of a function`);
    if (outputs.has(output.name)) throw new KiteError('IllegalSchema', `function "${name}": field "${output.name}" is already the output of another function`);
    outputs.add(output.name);
    out.push({
      name, id: 100 + i, description: fn.description ?? '', type: 'BM25', inputFieldNames: [input.name], outputFieldNames: [output.name], params: kv(fn.params),
    });
  });
  return out;
}

/** The functions as DescribeCollection returns them (with the fields' ids, as Milvus fills them). */
export function functionsToWire(c: CollectionMeta): FunctionSchemaOut[] {
  const idOf = (n: string): string => String(c.fields.find((f) => f.name === n)?.fieldID ?? 0);
  return (c.functions ?? []).map((f) => ({
    name: f.name, id: String(f.id), description: f.description, type: f.type,
    input_field_names: f.inputFieldNames, input_field_ids: f.inputFieldNames.map(idOf),
    output_field_names: f.outputFieldNames, output_field_ids: f.outputFieldNames.map(idOf),
    params: Object.entries(f.params).map(([key, value]) => ({ key, value })),
  }));
}

/** Whether a field is filled by a function (so it is neither sent on insert nor returned). */
export function isFunctionOutput(c: CollectionMeta, field: string): boolean {
  return (c.functions ?? []).some((f) => f.outputFieldNames.includes(field));
}

/** The function whose output a field is, if any. */
export function functionOf(c: CollectionMeta, field: string): FunctionMeta | undefined {
  return (c.functions ?? []).find((f) => f.outputFieldNames.includes(field));
}

/** Analysing texts yields to the event loop after this long, so a large insert does not hold the proxy. */
const ANALYZE_SLICE_MS = 10;

/**
 * Runs the collection's BM25 functions over the rows of an insert or upsert: each output column holds, per row, the
 * term frequencies of the input text as its field's analyzer cuts it (term id -> count).
 */
export async function runFunctions(c: CollectionMeta, columns: Map<string, Column>): Promise<void> {
  let sliceStart = Date.now();
  for (const fn of c.functions ?? []) {
    const inputField = c.fields.find((f) => f.name === fn.inputFieldNames[0]) as FieldMeta;
    const text = columns.get(inputField.name);
    if (!text || text.kind !== 'string') throw new KiteError('Internal', `function ${fn.name}: input column ${inputField.name} is missing`);
    const analyzer = analyzerOfField(inputField);
    const rows = new Array<SparseRow>(text.data.length);
    for (let i = 0; i < rows.length; i++) {
      rows[i] = termFrequencies(analyzer.terms(text.data[i]!));
      if (Date.now() - sliceStart > ANALYZE_SLICE_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        sliceStart = Date.now();
      }
    }
    columns.set(fn.outputFieldNames[0]!, { kind: 'sparse', data: rows });
  }
}
