import { KiteError } from '@kite/common';
import { analyzerOfField, asciiFold, createAnalyzer, termId } from './index';

const terms = (params: unknown, text: string): string[] => createAnalyzer(params).terms(text);

function refused(params: unknown): KiteError {
  try {
    createAnalyzer(params);
  } catch (e) {
    expect(e).toBeInstanceOf(KiteError);
    expect((e as KiteError).kind).toBe('ParameterInvalid');
    return e as KiteError;
  }
  throw new Error(`analyzer_params ${JSON.stringify(params)} were accepted`);
}

describe('standard tokenizer (Tantivy SimpleTokenizer: runs of Unicode letters and digits)', () => {
  it('splits on every non-alphanumeric character and lowercases in the standard analyzer', () => {
    expect(terms({ type: 'standard' }, 'The Quick-Brown Fox! dog\'s 32.3 naïve 中文 Ελληνικά')).toEqual([
      'the', 'quick', 'brown', 'fox', 'dog', 's', '32', '3', 'naïve', '中文', 'ελληνικά',
    ]);
  });

  it('is the default for absent, empty and {} params', () => {
    for (const p of [undefined, null, '', '  ', {}, '{}']) expect(terms(p, 'Hello World')).toEqual(['hello', 'world']);
  });

  it('gives UTF-8 byte offsets, positions and term hashes', () => {
    const tokens = createAnalyzer({ type: 'standard' }).analyze('Héllo, 世界 ok');
    expect(tokens).toEqual([
      { token: 'héllo', startOffset: 0, endOffset: 6, position: 0, positionLength: 1, hash: termId('héllo') },
      { token: '世界', startOffset: 8, endOffset: 14, position: 1, positionLength: 1, hash: termId('世界') },
      { token: 'ok', startOffset: 15, endOffset: 17, position: 2, positionLength: 1, hash: termId('ok') },
    ]);
  });

  it('counts astral characters as 4 bytes in offsets', () => {
    const [a, b] = createAnalyzer({ tokenizer: 'standard' }).analyze('𝒜x 😀 y');
    expect(a).toMatchObject({ token: '𝒜x', startOffset: 0, endOffset: 5 });
    expect(b).toMatchObject({ token: 'y', startOffset: 11, endOffset: 12, position: 1 });
  });

  it('keeps case without a lowercase filter', () => {
    expect(terms({ tokenizer: 'standard' }, 'Hello World')).toEqual(['Hello', 'World']);
    expect(terms({ tokenizer: { type: 'standard' } }, 'Hello World')).toEqual(['Hello', 'World']);
  });

  it('uses Unicode word boundaries with uax29', () => {
    expect(terms({ tokenizer: { type: 'standard', uax29: true } }, "O'Reilly can't jump 32.3 feet")).toEqual([
      "O'Reilly", "can't", 'jump', '32.3', 'feet',
    ]);
    expect(terms({ tokenizer: { type: 'standard', uax29: true, max_token_length: 5 } }, 'jumped')).toEqual(['jumpe', 'd']);
  });
});

describe('whitespace tokenizer', () => {
  it('splits on ASCII white space only and keeps punctuation', () => {
    expect(terms({ tokenizer: 'whitespace' }, 'Hello,  World!\tfoo\nbar')).toEqual(['Hello,', 'World!', 'foo', 'bar']);
    expect(createAnalyzer({ tokenizer: 'whitespace' }).analyze(' a  b').map((t) => [t.startOffset, t.position])).toEqual([[1, 0], [4, 1]]);
  });
});

describe('english analyzer', () => {
  it('lowercases, stems with Snowball English (Porter2), then removes English stop words', () => {
    expect(terms({ type: 'english' }, 'The dancing stars were shining; the cats are running generously')).toEqual([
      'danc', 'star', 'were', 'shine', 'cat', 'run', 'generous',
    ]);
  });

  it('adds stop_words on top of the built-in list', () => {
    expect(terms({ type: 'english', stop_words: ['star'] }, 'the stars shine')).toEqual(['shine']);
    expect(terms({ type: 'standard', stop_words: ['_english_', 'fox'] }, 'The fox and a dog')).toEqual(['dog']);
  });

  it('keeps positions of removed stop words as gaps', () => {
    expect(createAnalyzer({ type: 'english' }).termsWithPositions('the quick fox is here')).toEqual({
      terms: ['quick', 'fox', 'here'],
      positions: [1, 2, 4],
    });
  });
});

describe('filters', () => {
  it('lowercase', () => {
    expect(terms({ tokenizer: 'standard', filter: ['lowercase'] }, 'ÉCOLE Straße')).toEqual(['école', 'straße']);
  });

  it('asciifolding', () => {
    expect(terms({ tokenizer: 'standard', filter: ['asciifolding'] }, 'Café naïve Straße Ærø Łódź 中文')).toEqual([
      'Cafe', 'naive', 'Strasse', 'AEro', 'Lodz', '中文',
    ]);
    expect(asciiFold('plain')).toBe('plain');
    expect(asciiFold('ﬁne ²')).toBe('fine 2');
  });

  it('alphanumonly drops tokens with anything but ASCII letters and digits', () => {
    expect(terms({ tokenizer: 'whitespace', filter: ['alphanumonly'] }, 'abc ab-c naïve 123 x_1')).toEqual(['abc', '123']);
  });

  it('cnalphanumonly and cncharonly keep tokens containing such characters', () => {
    expect(terms({ tokenizer: 'whitespace', filter: ['cnalphanumonly'] }, '中文 abc ... ñ 中,')).toEqual(['中文', 'abc', '中,']);
    expect(terms({ tokenizer: 'whitespace', filter: ['cncharonly'] }, '中文 abc 1中')).toEqual(['中文', '1中']);
  });

  it('removepunct drops tokens that contain punctuation', () => {
    expect(terms({ tokenizer: 'whitespace', filter: ['removepunct'] }, 'hello , world! ok')).toEqual(['hello', 'ok']);
  });

  it('stop with a list and with _english_', () => {
    expect(terms({ tokenizer: 'standard', filter: ['lowercase', { type: 'stop', stop_words: ['and', 'for'] }] }, 'Milvus supports L2 and IP for floats')).toEqual([
      'milvus', 'supports', 'l2', 'ip', 'floats',
    ]);
    expect(terms({ tokenizer: 'standard', filter: [{ type: 'stop', stop_words: ['_english_'] }] }, 'the cat is on a mat')).toEqual(['cat', 'mat']);
    expect(terms({ tokenizer: 'standard', filter: [{ type: 'stop' }] }, 'the cat')).toEqual(['the', 'cat']);
  });

  it('length keeps tokens of at most max UTF-8 bytes', () => {
    expect(terms({ tokenizer: 'standard', filter: [{ type: 'length', max: 6 }] }, 'The length filter allows control over token')).toEqual([
      'The', 'length', 'filter', 'allows', 'over', 'token',
    ]);
    // 'ééé' is 6 bytes: kept at max 6, dropped at max 5.
    expect(terms({ tokenizer: 'standard', filter: [{ type: 'length', max: 5 }] }, 'ééé ab')).toEqual(['ab']);
  });

  it('stemmer in English and another language', () => {
    expect(terms({ tokenizer: 'standard', filter: ['lowercase', { type: 'stemmer', language: 'English' }] }, 'Running ponies fairly')).toEqual([
      'run', 'poni', 'fair',
    ]);
    expect(terms({ tokenizer: 'standard', filter: [{ type: 'stemmer', language: 'french' }] }, 'continuellement')).toEqual(['continuel']);
  });

  it('runs filters in the given order', () => {
    // Stop before lowercase misses "The"; after lowercase it removes it.
    expect(terms({ tokenizer: 'standard', filter: [{ type: 'stop', stop_words: ['the'] }, 'lowercase'] }, 'The end')).toEqual(['the', 'end']);
    expect(terms({ tokenizer: 'standard', filter: ['lowercase', { type: 'stop', stop_words: ['the'] }] }, 'The end')).toEqual(['end']);
  });

  it('accepts the named filters in object form too', () => {
    expect(terms({ tokenizer: 'standard', filter: [{ type: 'lowercase' }] }, 'AB')).toEqual(['ab']);
  });

  it('accepts JSON text', () => {
    expect(terms('{"tokenizer": "whitespace", "filter": ["lowercase"]}', 'A,B c')).toEqual(['a,b', 'c']);
  });
});

describe('errors name the key and list what is supported', () => {
  const cases: Array<[unknown, RegExp]> = [
    ['{not json', /not valid JSON/],
    [[1, 2], /must be a JSON object/],
    [{ type: 'klingon' }, /unknown built-in analyzer type "klingon".*supported types: standard, english/],
    [{ type: 'chinese' }, /"chinese" analyzer .* not available in Kite/],
    [{ type: 1 }, /"type" must be a string/],
    [{ type: 'english', filter: ['lowercase'] }, /key "filter" cannot be combined with "type": "english"/],
    [{ type: 'standard', stop_words: 'the' }, /stop_words must be a list of strings/],
    [{ filter: ['lowercase'] }, /neither "type" nor "tokenizer"/],
    [{ tokenizer: 'jieba' }, /tokenizer "jieba" is not supported by Kite.*supported tokenizers: standard, whitespace/],
    [{ tokenizer: { uax29: true } }, /has no "type"/],
    [{ tokenizer: 42 }, /tokenizer must be a name or an object/],
    [{ tokenizer: { type: 'whitespace', foo: 1 } }, /unknown option "foo"/],
    [{ tokenizer: { type: 'standard', max_token_length: 5 } }, /requires uax29/],
    [{ tokenizer: { type: 'standard', uax29: true, max_token_length: 0 } }, /max_token_length must be an integer/],
    [{ tokenizer: 'standard', extra: 1 }, /unknown analyzer option key "extra"/],
    [{ tokenizer: 'standard', filter: 'lowercase' }, /"filter" must be a list/],
    [{ tokenizer: 'standard', filter: ['uppercase'] }, /filter\[0\] "uppercase" is not a supported filter.*lowercase, asciifolding/],
    [{ tokenizer: 'standard', filter: ['lowercase', { type: 'synonym' }] }, /filter\[1\] type "synonym" is not supported/],
    [{ tokenizer: 'standard', filter: [{ stop_words: [] }] }, /filter\[0\] .* has no "type"/],
    [{ tokenizer: 'standard', filter: [{ type: 'length' }] }, /filter\[0\] \(length\) needs "max"/],
    [{ tokenizer: 'standard', filter: [{ type: 'length', max: -1 }] }, /needs "max" as a non-negative integer/],
    [{ tokenizer: 'standard', filter: [{ type: 'stemmer' }] }, /needs "language"/],
    [{ tokenizer: 'standard', filter: [{ type: 'stemmer', language: 'klingon' }] }, /stemmer language "klingon".*supported languages: arabic/],
    [{ tokenizer: 'standard', filter: [{ type: 'stop', stop_words: ['_french_'] }] }, /_french_ is not built into Kite/],
    [{ tokenizer: 'standard', filter: [{ type: 'stop', stop_words: [1] }] }, /stop_words must be a list of strings/],
    [{ tokenizer: 'standard', filter: [{ type: 'stop', stop_file: 'x' }] }, /unknown option "stop_file"/],
    [{ tokenizer: 'standard', filter: [7] }, /filter\[0\] must be a filter name or an object/],
  ];
  it.each(cases)('%j', (params, message) => {
    const e = refused(params);
    expect(e.message).toMatch(/^invalid analyzer_params: /);
    expect(e.message).toMatch(message);
  });
});

describe('termId (Milvus typeutil.HashString2LessUint32: CRC-32 IEEE of the first 100 bytes, mod 2^32-1)', () => {
  it('matches CRC-32 check values', () => {
    expect(termId('')).toBe(0);
    expect(termId('123456789')).toBe(0xcbf43926);
    expect(termId('hello')).toBe(0x3610a686);
    expect(termId('The quick brown fox jumps over the lazy dog')).toBe(0x414fa339);
  });

  it('hashes only the first 100 UTF-8 bytes', () => {
    const base = 'x'.repeat(100);
    expect(termId(`${base}a`)).toBe(termId(base));
    expect(termId(`${base}a`)).toBe(termId(`${base}b`));
    expect(termId('x'.repeat(99))).not.toBe(termId(base));
  });

  it('is a uint32', () => {
    for (const t of ['a', 'zebra', '中文', 'ωmega']) {
      const h = termId(t);
      expect(Number.isInteger(h) && h >= 0 && h < 0xffffffff).toBe(true);
    }
  });
});

describe('analyzerOfField', () => {
  const field = (typeParams: Record<string, string>) => ({ name: 'body', typeParams });

  it('builds from analyzer_params text and caches per params', () => {
    const a = analyzerOfField(field({ enable_analyzer: 'true', analyzer_params: '{"type":"english"}' }));
    expect(a.terms('The Running Dogs')).toEqual(['run', 'dog']);
    expect(analyzerOfField(field({ enable_analyzer: 'True', analyzer_params: '{"type":"english"}' }))).toBe(a);
    expect(analyzerOfField(field({ enable_analyzer: 'true' })).terms('The Dogs')).toEqual(['the', 'dogs']);
  });

  it('refuses a field without enable_analyzer, naming it', () => {
    expect(() => analyzerOfField(field({ max_length: '100' }))).toThrow(/field "body" has no analyzer: .*enable_analyzer=True/);
  });

  it('names the field when its params are bad', () => {
    expect(() => analyzerOfField(field({ enable_analyzer: 'true', analyzer_params: '{"type":"x"}' }))).toThrow(/field "body": invalid analyzer_params: unknown built-in analyzer type "x"/);
  });
});
