import { KiteError } from '@kite/common';
import { ExprError, MAX_EXPR_DEPTH, parseExpr, type SchemaInfo } from './index';

const schema: SchemaInfo = {
  enableDynamicField: true,
  fields: [
    { name: 'id', type: 'Int64', isPrimaryKey: true },
    { name: 's', type: 'VarChar' },
    { name: 'j', type: 'JSON' },
    { name: 'tags', type: 'Array', elementType: 'Int64' },
  ],
};

function failure(text: string, params?: Record<string, unknown>, maxLength?: number): ExprError {
  try {
    parseExpr(text, schema, params, { maxLength });
  } catch (e) {
    if (e instanceof ExprError) return e;
    throw e; // a RangeError (stack overflow) or anything else fails the test
  }
  throw new Error(`expected the filter (${text.length} characters) to be refused`);
}

const nested = {
  parentheses: (n: number) => `${'('.repeat(n)}id > 1${')'.repeat(n)}`,
  not: (n: number) => `${'not '.repeat(n)}id > 1`,
  bang: (n: number) => `${'!'.repeat(n)}(id > 1)`,
  'unary minus': (n: number) => `id > ${'-'.repeat(n)}1`,
  'minus in an exponent': (n: number) => `id > 2 ** ${'- '.repeat(n)}1`,
  'an addition chain': (n: number) => `id > ${Array(n).fill('1').join(' + ')}`,
  'a column sum': (n: number) => `${Array(n).fill('id').join(' + ')} > 1`,
  'a power chain': (n: number) => `id > ${Array(n).fill('1').join(' ** ')}`,
  'nested array literals': (n: number) => `j == ${'['.repeat(n)}1${']'.repeat(n)}`,
  'a JSON path': (n: number) => `j${'["a"]'.repeat(n)} == 1`,
  'exists on a JSON path': (n: number) => `exists j${'[0]'.repeat(n)}`,
  'nested calls': (n: number) => `${'array_length('.repeat(n)}tags${')'.repeat(n)} > 0`,
};

describe('nesting depth', () => {
  it.each(Object.entries(nested))('%s 10,000 levels deep is refused with an expression error naming the limit', (_, make) => {
    const e = failure(make(10000));
    expect(e).toBeInstanceOf(KiteError);
    expect(e.kind).toBe('ExpressionInvalid');
    expect(e.code).toBe(1100);
    expect(e.message).toContain(`more than ${MAX_EXPR_DEPTH} levels deep`);
    expect(e.position).toBeDefined();
  });

  it('accepts 100 levels of parentheses or not, as Milvus does by default', () => {
    expect(() => parseExpr(nested.parentheses(100), schema)).not.toThrow();
    expect(() => parseExpr(nested.not(100), schema)).not.toThrow();
    expect(() => parseExpr(nested['nested array literals'](100), schema)).not.toThrow();
    expect(() => parseExpr(nested['a JSON path'](100), schema)).not.toThrow();
  });

  it('draws the line at the limit exactly', () => {
    expect(() => parseExpr(nested.parentheses(MAX_EXPR_DEPTH), schema)).not.toThrow();
    expect(failure(nested.parentheses(MAX_EXPR_DEPTH + 1)).position?.column).toBe(MAX_EXPR_DEPTH + 1);
    // `not` x (limit - 2) around `id > 1` (a comparison over an identifier and a literal): limit nodes deep.
    expect(() => parseExpr(nested.not(MAX_EXPR_DEPTH - 2), schema)).not.toThrow();
    expect(failure(nested.not(MAX_EXPR_DEPTH - 1)).message).toContain(`${MAX_EXPR_DEPTH} levels`);
  });

  it('does not count brackets inside string literals', () => {
    const text = `s == "${'('.repeat(5000)}\\"${'['.repeat(5000)}" or s == '${')'.repeat(5000)}\\''`;
    expect(() => parseExpr(text, schema)).not.toThrow();
  });

  it('refuses a template parameter with arrays nested deeper than the limit', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 10000; i++) deep = [deep];
    const e = failure('j == {v}', { v: deep });
    expect(e.message).toContain(`template parameter {v} nests arrays more than ${MAX_EXPR_DEPTH} levels deep`);
  });

  it('keeps long flat expressions, which do not nest', () => {
    const ors = Array.from({ length: 5000 }, (_, i) => `id == ${i}`).join(' or ');
    expect(() => parseExpr(ors, schema)).not.toThrow();
  });

  it('handles lists of 100,000s of alternatives or values (no spread of them into a call)', () => {
    const intSchema: SchemaInfo = { ...schema, fields: [...schema.fields, { name: 'a', type: 'Int32' }] };
    // A parenthesized `or` of 130,000 terms (1 MB) merged into the `or` around it.
    const ors = `(${Array.from({ length: 130000 }, (_, i) => `a==${i % 10}`).join(' or ')}) or id == 0`;
    expect(() => parseExpr(ors, intSchema)).not.toThrow();
    // An Int32 field against 500,000 integers from a template parameter (looked up in a table).
    expect(() => parseExpr('a in {xs}', intSchema, { xs: Array.from({ length: 500000 }, (_, i) => i) })).not.toThrow();
  });
});

describe('maximum length', () => {
  it('refuses an expression longer than maxLength before parsing it, naming the length and the limit', () => {
    const huge = `s == "${'x'.repeat(10 << 20)}"`;
    const t0 = Date.now();
    const e = failure(huge, undefined, 1 << 20);
    expect(Date.now() - t0).toBeLessThan(100); // parsing 10 MB would take seconds
    expect(e.kind).toBe('ExpressionInvalid');
    expect(e.message).toContain(`${huge.length} characters long, more than the limit of ${1 << 20}`);
    expect(e.message).toContain('template parameter');
    expect(e.message.length).toBeLessThan(1000); // the expression itself is not echoed in full
  });

  it('accepts an expression of exactly maxLength characters, and any length when no limit is given', () => {
    expect(() => parseExpr('id > 1', schema, undefined, { maxLength: 6 })).not.toThrow();
    expect(failure('id > 10', undefined, 6).message).toContain('7 characters long');
    expect(() => parseExpr(`s == "${'x'.repeat(1 << 20)}"`, schema)).not.toThrow();
  });
});
