import { createAnalyzer, TextIndex } from '@kite/analyzer';
import { decodePlan, encodePlan, evaluate, evaluateAsync, ExprError, parseExpr, type Column, type ColumnBatch, type SchemaInfo } from './index';

const textParams = (analyzer?: unknown): Record<string, string> => ({
  max_length: '1000',
  enable_analyzer: 'true',
  enable_match: 'true',
  ...(analyzer === undefined ? {} : { analyzer_params: JSON.stringify(analyzer) }),
});

const schema: SchemaInfo = {
  enableDynamicField: false,
  fields: [
    { name: 'id', type: 'Int64', isPrimaryKey: true },
    { name: 'age', type: 'Int32' },
    { name: 'doc', type: 'VarChar', typeParams: textParams({ type: 'english' }) },
    { name: 'raw', type: 'VarChar', typeParams: textParams() },
    { name: 'plain', type: 'VarChar', typeParams: { max_length: '10' } },
    { name: 'noanalyzer', type: 'VarChar', typeParams: { max_length: '10', enable_match: 'true' } },
  ],
};

const docs = [
  'Machine learning boosts efficiency',
  'Learning machine models are here',
  'machine deep learning',
  'The robotics machine learning models',
  '',
  'machines learn; learned machines',
  'deep machine very deep learning',
  'Python is a language',
];
const n = docs.length;
const columns: Record<string, Column> = {
  id: { kind: 'int64', data: BigInt64Array.from(docs.map((_, i) => BigInt(i))) },
  age: { kind: 'int', data: Int32Array.from(docs.map((_, i) => i * 10)) },
  doc: { kind: 'string', data: docs },
  raw: { kind: 'string', data: docs.map((d) => d.toUpperCase()) },
  plain: { kind: 'string', data: docs.map(() => 'x') },
};
const batch: ColumnBatch = { numRows: n, column: (name) => columns[name] };

const rowsOf = (bits: Uint8Array, count = n): number[] => {
  const out: number[] = [];
  for (let i = 0; i < count; i++) if (((bits[i >>> 3] as number) >>> (i & 7)) & 1) out.push(i);
  return out;
};
const rows = (text: string, params?: Record<string, unknown>): number[] => rowsOf(evaluate(parseExpr(text, schema, params), batch));

function error(text: string): ExprError {
  try {
    parseExpr(text, schema);
  } catch (e) {
    if (e instanceof ExprError) return e;
    throw e;
  }
  throw new Error(`${text} was accepted`);
}

describe('text_match', () => {
  it('matches rows holding any of the analyzed terms', () => {
    expect(rows('text_match(doc, "machines")')).toEqual([0, 1, 2, 3, 5, 6]);
    expect(rows('text_match(doc, "python robotics")')).toEqual([3, 7]);
    expect(rows("TEXT_MATCH(doc, 'EFFICIENCY')")).toEqual([0]);
    expect(rows('Text_Match(doc, "the is a")')).toEqual([]);
    expect(rows('text_match(doc, "")')).toEqual([]);
  });

  it("uses the field's own analyzer (standard: lowercased, not stemmed)", () => {
    expect(rows('text_match(raw, "machine")')).toEqual([0, 1, 2, 3, 6]);
    expect(rows('text_match(raw, "MACHINES")')).toEqual([5]);
  });

  it('takes minimum_should_match', () => {
    expect(rows('text_match(doc, "machine deep python", minimum_should_match=2)')).toEqual([2, 6]);
    expect(rows('text_match(doc, "machine deep python", minimum_should_match=1)')).toEqual(rows('text_match(doc, "machine deep python")'));
    expect(rows('text_match(doc, "machine", minimum_should_match=2)')).toEqual([]);
  });

  it('combines with other conditions', () => {
    expect(rows('text_match(doc, "machine") and age >= 30')).toEqual([3, 5, 6]);
    expect(rows('not text_match(doc, "machine")')).toEqual([4, 7]);
    expect(rows('text_match(doc, "python") or id == 4')).toEqual([4, 7]);
    expect(rows('text_match(doc, "deep") and text_match(doc, "learning")')).toEqual([2, 6]);
  });

  it('takes the text from a template parameter', () => {
    expect(rows('text_match(doc, {q})', { q: 'python' })).toEqual([7]);
  });
});

describe('phrase_match', () => {
  it('matches the phrase in order, with an optional slop', () => {
    expect(rows('phrase_match(doc, "machine learning")')).toEqual([0, 3, 5]);
    expect(rows('phrase_match(doc, "machine learning", 0)')).toEqual([0, 3, 5]);
    expect(rows('phrase_match(doc, "machine learning", 1)')).toEqual([0, 2, 3, 5]);
    expect(rows('PHRASE_MATCH(doc, "machine learning", 2)')).toEqual([0, 2, 3, 5, 6]);
    expect(rows('phrase_match(doc, "learning machine", 3)')).toEqual([1, 5]);
    expect(rows('phrase_match(doc, {p}, {s}) and age < 40', { p: 'machine learning', s: 1 })).toEqual([0, 2, 3]);
  });
});

describe('type checking names the field and the fix', () => {
  it.each<[string, RegExp]>([
    ['text_match(plain, "x")', /field "plain" does not enable match: text_match needs a VarChar field created with enable_analyzer=True and enable_match=True/],
    ['text_match(noanalyzer, "x")', /field "noanalyzer" does not enable match/],
    ['phrase_match(age, "x")', /phrase_match matches text, but field "age" is Int32; use a VarChar field/],
    ['text_match(nope, "x")', /field "nope" does not exist/],
    ['text_match("doc", "x")', /first argument of text_match must be the name of a VarChar field/],
    ['text_match(doc, 5)', /second argument of text_match must be a string constant/],
    ['text_match(doc, age)', /second argument of text_match must be a string constant/],
    ['text_match(doc)', /text_match takes 2 arguments/],
    ['text_match(doc, "a", 1)', /text_match takes 2 arguments/],
    ['phrase_match(doc, "a", 1, 2)', /phrase_match takes 2 or 3 arguments/],
    ['phrase_match(doc, "a", -1)', /slop \(third argument\) of phrase_match must be an integer between 0 and 4294967295/],
    ['phrase_match(doc, "a", 1.5)', /slop/],
    ['phrase_match(doc, "a", slop=1)', /phrase_match takes no named arguments/],
    ['text_match(doc, "a", minimum_should_match=0)', /minimum_should_match of text_match must be an integer between 1 and 1000/],
    ['text_match(doc, "a", foo=1)', /text_match takes one named argument, minimum_should_match=N, not foo/],
    ['json_contains(x=1, 2)', /named argument, which only text_match takes/],
    ['text_match(doc, "a") + 1 > 0', /is a condition, not a value/],
  ])('%s', (text, message) => {
    expect(error(text).detail).toMatch(message);
  });
});

describe('plans and engines', () => {
  it('round-trips through encodePlan / decodePlan', () => {
    for (const text of ['text_match(doc, "machine deep", minimum_should_match=2) or age > 60', 'not phrase_match(doc, "machine learning", 1)']) {
      const expr = parseExpr(text, schema);
      const decoded = decodePlan(encodePlan(expr), schema, text);
      expect(rowsOf(evaluate(decoded, batch))).toEqual(rowsOf(evaluate(expr, batch)));
    }
  });

  it("uses the batch's text index, shifted by firstRow", () => {
    // The engine's index covers two more rows before the batch's first one.
    const index = new TextIndex(createAnalyzer({ type: 'english' }));
    index.addRows(['machine learning', 'python', ...docs]);
    let asked = 0;
    const withIndex: ColumnBatch = {
      ...batch,
      textIndex: (field, analyzer) => {
        asked++;
        expect([field, analyzer]).toEqual(['doc', '{"type":"english"}']);
        return { index, firstRow: 2 };
      },
    };
    const expr = parseExpr('phrase_match(doc, "machine learning") or text_match(doc, "python")', schema);
    expect(rowsOf(evaluate(expr, withIndex))).toEqual([0, 3, 5, 7]);
    expect(asked).toBe(2);
  });

  it('evaluateAsync in slices agrees with evaluate, with and without an engine index', async () => {
    const words = ['alpha', 'beta', 'gamma', 'the', 'delta', 'of'];
    let x = 7;
    const r = (m: number): number => {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      return x % m;
    };
    const count = 3000;
    const texts = Array.from({ length: count }, () => Array.from({ length: r(8) }, () => words[r(words.length)]).join(' '));
    const big: Record<string, Column> = {
      doc: { kind: 'string', data: texts },
      age: { kind: 'int', data: Int32Array.from({ length: count }, (_, i) => i % 100) },
    };
    const plainBatch: ColumnBatch = { numRows: count, column: (name) => big[name] };
    const index = new TextIndex(createAnalyzer({ type: 'english' }));
    index.addRows(texts);
    const indexed: ColumnBatch = { ...plainBatch, textIndex: () => ({ index, firstRow: 0 }) };
    const analyzer = createAnalyzer({ type: 'english' });
    for (const text of ['text_match(doc, "alpha gamma")', 'phrase_match(doc, "beta gamma", 1) and age < 50', 'not phrase_match(doc, "alpha of the beta")']) {
      const expr = parseExpr(text, schema);
      const sync = rowsOf(evaluate(expr, plainBatch), count);
      expect(rowsOf(await evaluateAsync(expr, plainBatch, { sliceMs: 0.01 }), count)).toEqual(sync);
      expect(rowsOf(await evaluateAsync(expr, indexed, { sliceMs: 0.01 }), count)).toEqual(sync);
      // And against a scan that analyzes each row on its own.
      if (text.startsWith('text_match')) {
        const want = new Set(analyzer.terms('alpha gamma'));
        expect(sync).toEqual(texts.flatMap((t, i) => (analyzer.terms(t).some((w) => want.has(w)) ? [i] : [])));
      }
    }
  });
});
