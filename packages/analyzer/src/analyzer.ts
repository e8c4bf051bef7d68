import { KiteError } from '@kite/common';
import { newStemmer } from 'snowball-stemmers';
import { termId } from './hash';
import { ENGLISH_STOP_WORDS, expandStopWords } from './stopwords';

/**
 * Text analysis with Milvus's `analyzer_params` (Milvus runs Tantivy's analyzers; this follows their definitions):
 * a tokenizer splits text into tokens with positions, then filters rewrite or drop tokens in order. Filters never
 * renumber positions, so a dropped stop word leaves a gap (as in Tantivy), which phrase_match's slop counts.
 */

export interface AnalyzerToken {
  token: string;
  /** UTF-8 byte offset of the token's first byte in the text (Milvus's offset_from). */
  startOffset: number;
  /** UTF-8 byte offset just past the token's last byte (Milvus's offset_to). */
  endOffset: number;
  /** Token index from the tokenizer (0-based); filters keep it. */
  position: number;
  positionLength: number;
  /** The uint32 term id (termId of `token`). */
  hash: number;
}

export interface Analyzer {
  analyze(text: string): AnalyzerToken[];
  /** Terms only (after filters), in order. */
  terms(text: string): string[];
  /** Terms with their positions, in order (what an inverted index with positions needs). */
  termsWithPositions(text: string): { terms: string[]; positions: number[] };
  /** Calls `each` with every term and its position, in order, without collecting them. */
  eachTerm(text: string, each: (term: string, position: number) => void): void;
}

/** A token as a tokenizer yields it: UTF-16 indices into the text. */
interface RawToken {
  text: string;
  start: number;
  end: number;
  position: number;
}

type Tokenizer = (text: string) => RawToken[];
/** A filter maps a token's text to new text, or null to drop it. */
type Filter = (text: string) => string | null;

export const SUPPORTED_ANALYZER_TYPES = ['standard', 'english'] as const;
export const SUPPORTED_TOKENIZERS = ['standard', 'whitespace'] as const;
export const SUPPORTED_FILTERS = [
  'lowercase', 'asciifolding', 'alphanumonly', 'cncharonly', 'cnalphanumonly', 'removepunct',
  '{"type": "stop", "stop_words": [...]}', '{"type": "length", "max": N}', '{"type": "stemmer", "language": "..."}',
] as const;

/** Milvus's stemmer languages (Tantivy's Language), mapped to the Snowball algorithm names. */
const STEMMER_LANGUAGES: Record<string, string> = {
  arabic: 'arabic', arabig: 'arabic', danish: 'danish', dutch: 'dutch', english: 'english', finnish: 'finnish',
  french: 'french', german: 'german', hungarian: 'hungarian', italian: 'italian', norwegian: 'norwegian',
  portuguese: 'portuguese', romanian: 'romanian', russian: 'russian', spanish: 'spanish', swedish: 'swedish',
  tamil: 'tamil', turkish: 'turkish',
};

function bad(what: string, fix: string): KiteError {
  return new KiteError('ParameterInvalid', `invalid analyzer_params: ${what}; ${fix}`);
}

const show = (v: unknown): string => {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 120 ? `${s.slice(0, 120)}…` : s;
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

// ---- tokenizers ----

// Rust's char::is_alphanumeric (Alphabetic or Numeric), which Tantivy's SimpleTokenizer splits on.
const ALNUM_RUN = /[\p{Alphabetic}\p{N}]+/gu;
// Rust's char::is_ascii_whitespace (space, tab, LF, FF, CR), which Tantivy's WhitespaceTokenizer splits on.
const NON_WHITESPACE_RUN = /[^\t\n\f\r ]+/g;
const ALNUM_OR_EMOJI = /[\p{Alphabetic}\p{N}\p{Extended_Pictographic}\p{Emoji_Presentation}\p{Regional_Indicator}\u20e3]/u;

function regexTokenizer(re: RegExp): Tokenizer {
  return (text) => {
    const out: RawToken[] = [];
    for (const m of text.matchAll(re)) {
      const start = m.index ?? 0;
      out.push({ text: m[0], start, end: start + m[0].length, position: out.length });
    }
    return out;
  };
}

/** Milvus's `standard` tokenizer with `uax29: true`: Unicode word boundaries, word or emoji segments kept. */
function uax29Tokenizer(maxTokenLength: number): Tokenizer {
  const segmenter = new Intl.Segmenter('und', { granularity: 'word' });
  return (text) => {
    const out: RawToken[] = [];
    for (const seg of segmenter.segment(text)) {
      if (!ALNUM_OR_EMOJI.test(seg.segment)) continue;
      const chars = Array.from(seg.segment);
      let at = seg.index;
      for (let i = 0; i < chars.length; i += maxTokenLength) {
        const piece = chars.slice(i, i + maxTokenLength).join('');
        out.push({ text: piece, start: at, end: at + piece.length, position: out.length });
        at += piece.length;
      }
    }
    return out;
  };
}

const MAX_TOKEN_LENGTH_LIMIT = 1024 * 1024;

function buildTokenizer(spec: unknown): Tokenizer {
  let name: unknown = spec;
  let options: Record<string, unknown> = {};
  if (isObject(spec)) {
    name = spec.type;
    if (typeof name !== 'string') throw bad(`tokenizer ${show(spec)} has no "type"`, 'give the tokenizer as a name ("standard") or an object with a "type" key');
    options = spec;
  } else if (typeof spec !== 'string') {
    throw bad(`tokenizer must be a name or an object, got ${show(spec)}`, `use one of: ${SUPPORTED_TOKENIZERS.join(', ')}`);
  }
  const extra = (allowed: string[]): void => {
    for (const k of Object.keys(options)) {
      if (k !== 'type' && !allowed.includes(k)) {
        throw bad(`tokenizer "${String(name)}" has an unknown option "${k}"`, allowed.length === 0 ? 'it takes no options' : `its options are: ${allowed.join(', ')}`);
      }
    }
  };
  switch (name) {
    case 'standard': {
      extra(['uax29', 'max_token_length']);
      const uax29 = options.uax29 ?? false;
      if (typeof uax29 !== 'boolean') throw bad(`tokenizer option uax29 must be a boolean, got ${show(uax29)}`, 'use true or false');
      if (!uax29) {
        if (options.max_token_length !== undefined) throw bad('standard tokenizer option max_token_length requires uax29', 'set "uax29": true or drop max_token_length');
        return regexTokenizer(ALNUM_RUN);
      }
      const max = options.max_token_length ?? 255;
      if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > MAX_TOKEN_LENGTH_LIMIT) {
        throw bad(`tokenizer option max_token_length must be an integer in [1, ${MAX_TOKEN_LENGTH_LIMIT}], got ${show(max)}`, 'give a positive integer');
      }
      return uax29Tokenizer(max);
    }
    case 'whitespace':
      extra([]);
      return regexTokenizer(NON_WHITESPACE_RUN);
    default:
      throw bad(`tokenizer "${String(name)}" is not supported by Kite`, `supported tokenizers: ${SUPPORTED_TOKENIZERS.join(', ')}`);
  }
}

// ---- filters ----

const utf8Length = (s: string): number => Buffer.byteLength(s, 'utf8');

/** Letters that have no Unicode decomposition to ASCII but that ASCII folding maps (Lucene's table, as Tantivy's). */
const FOLD_EXTRA: Record<string, string> = {
  'ß': 'ss', 'ẞ': 'SS', 'æ': 'ae', 'Æ': 'AE', 'ø': 'o', 'Ø': 'O', 'đ': 'd', 'Đ': 'D', 'ł': 'l', 'Ł': 'L', 'œ': 'oe',
  'Œ': 'OE', 'þ': 'th', 'Þ': 'TH', 'ð': 'd', 'Ð': 'D', 'ı': 'i', 'ħ': 'h', 'Ħ': 'H', 'ŧ': 't', 'Ŧ': 'T', 'ŋ': 'n',
  'Ŋ': 'N', 'ĸ': 'q', 'ŀ': 'l', 'Ŀ': 'L', 'ƒ': 'f', 'ǝ': 'e', 'ɐ': 'a', 'ɔ': 'o', 'ʃ': 's', '‘': "'", '’': "'",
  '‚': "'", '“': '"', '”': '"', '„': '"', '–': '-', '—': '-', '«': '"', '»': '"',
};
const COMBINING = /\p{M}/gu;

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

/** Folds each non-ASCII character to its ASCII equivalent where one exists; other characters stay. */
export function asciiFold(text: string): string {
  if (isAscii(text)) return text;
  let out = '';
  for (const ch of text) {
    if (ch.charCodeAt(0) < 0x80) {
      out += ch;
      continue;
    }
    const extra = FOLD_EXTRA[ch];
    if (extra !== undefined) {
      out += extra;
      continue;
    }
    const decomposed = ch.normalize('NFKD').replace(COMBINING, '');
    out += decomposed.length > 0 && isAscii(decomposed) ? decomposed : ch;
  }
  return out;
}

const ASCII_ALNUM_ONLY = /^[A-Za-z0-9]*$/;
const HAS_HAN = /\p{Script=Han}/u;
const HAS_HAN_OR_ASCII_ALNUM = /[\p{Script=Han}A-Za-z0-9]/u;
const HAS_PUNCT_OR_SPACE = /[\p{P}\s]/u;

const NAMED_FILTERS: Record<string, Filter> = {
  lowercase: (t) => t.toLowerCase(),
  asciifolding: asciiFold,
  // Tantivy's AlphaNumOnlyFilter: drops tokens with any character other than ASCII letters and digits.
  alphanumonly: (t) => (ASCII_ALNUM_ONLY.test(t) ? t : null),
  // Milvus's CnCharOnlyFilter / CnAlphaNumOnlyFilter keep a token when it contains such a character (their regexes
  // are not anchored), and RemovePunctFilter drops a token that contains punctuation or white space.
  cncharonly: (t) => (HAS_HAN.test(t) ? t : null),
  cnalphanumonly: (t) => (HAS_HAN_OR_ASCII_ALNUM.test(t) ? t : null),
  removepunct: (t) => (HAS_PUNCT_OR_SPACE.test(t) ? null : t),
};

function stringList(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || !v.every((w) => typeof w === 'string')) {
    throw bad(`${what} must be a list of strings, got ${show(v)}`, 'give e.g. ["the", "a"] or ["_english_"]');
  }
  return v as string[];
}

function stopFilter(words: readonly string[], where: string): Filter {
  const expanded = expandStopWords(words);
  if ('error' in expanded) throw bad(`${where}: ${expanded.error}`, 'name _english_ or list the words');
  const set = new Set(expanded.words);
  return (t) => (set.has(t) ? null : t);
}

/**
 * Stems remembered per stemmer: a text's words repeat (word frequencies are skewed), and a Snowball stem costs
 * microseconds where a map lookup costs tens of nanoseconds. Cleared when full, which keeps the memory bounded.
 */
const STEM_CACHE_ENTRIES = 100_000;

function stemmerFilter(language: string): Filter {
  const algorithm = STEMMER_LANGUAGES[language.toLowerCase()];
  if (algorithm === undefined) {
    throw bad(`stemmer language "${language}" is not supported by Kite`, `supported languages: ${Object.keys(STEMMER_LANGUAGES).filter((l) => l !== 'arabig').join(', ')}`);
  }
  const stemmer = newStemmer(algorithm);
  const cache = new Map<string, string>();
  return (t) => {
    let stem = cache.get(t);
    if (stem === undefined) {
      stem = stemmer.stem(t);
      if (cache.size >= STEM_CACHE_ENTRIES) cache.clear();
      cache.set(t, stem);
    }
    return stem;
  };
}

function buildFilter(spec: unknown, index: number): Filter {
  const where = `filter[${index}]`;
  if (typeof spec === 'string') {
    const f = NAMED_FILTERS[spec];
    if (f === undefined) throw bad(`${where} "${spec}" is not a supported filter`, `supported filters: ${SUPPORTED_FILTERS.join(', ')}`);
    return f;
  }
  if (!isObject(spec)) throw bad(`${where} must be a filter name or an object with a "type", got ${show(spec)}`, `supported filters: ${SUPPORTED_FILTERS.join(', ')}`);
  const type = spec.type;
  if (typeof type !== 'string') throw bad(`${where} ${show(spec)} has no "type"`, 'give the filter type, e.g. {"type": "stop", "stop_words": ["the"]}');
  const only = (allowed: string[]): void => {
    for (const k of Object.keys(spec)) {
      if (k !== 'type' && !allowed.includes(k)) throw bad(`${where} (${type}) has an unknown option "${k}"`, `its options are: ${allowed.join(', ')}`);
    }
  };
  switch (type) {
    case 'stop': {
      only(['stop_words']);
      return stopFilter(spec.stop_words === undefined ? [] : stringList(spec.stop_words, `${where} stop_words`), where);
    }
    case 'length': {
      only(['max']);
      const max = spec.max;
      if (typeof max !== 'number' || !Number.isInteger(max) || max < 0) {
        throw bad(`${where} (length) needs "max" as a non-negative integer, got ${show(max)}`, 'give e.g. {"type": "length", "max": 40}');
      }
      // Tantivy's RemoveLongFilter counts UTF-8 bytes; Milvus keeps tokens of at most `max` bytes.
      return (t) => (utf8Length(t) <= max ? t : null);
    }
    case 'stemmer': {
      only(['language']);
      if (typeof spec.language !== 'string') throw bad(`${where} (stemmer) needs "language" as a string, got ${show(spec.language)}`, 'give e.g. {"type": "stemmer", "language": "english"}');
      return stemmerFilter(spec.language);
    }
    default:
      if (NAMED_FILTERS[type] !== undefined) {
        only([]);
        return NAMED_FILTERS[type];
      }
      throw bad(`${where} type "${type}" is not supported by Kite`, `supported filters: ${SUPPORTED_FILTERS.join(', ')}`);
  }
}

// ---- analyzers ----

class Pipeline implements Analyzer {
  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly filters: readonly Filter[],
  ) {}

  private run(text: string, each: (term: string, raw: RawToken) => void): void {
    for (const raw of this.tokenizer(text)) {
      let t: string | null = raw.text;
      for (const f of this.filters) {
        t = f(t);
        if (t === null) break;
      }
      if (t !== null) each(t, raw);
    }
  }

  terms(text: string): string[] {
    const out: string[] = [];
    this.run(text, (t) => out.push(t));
    return out;
  }

  eachTerm(text: string, each: (term: string, position: number) => void): void {
    this.run(text, (t, raw) => each(t, raw.position));
  }

  termsWithPositions(text: string): { terms: string[]; positions: number[] } {
    const terms: string[] = [];
    const positions: number[] = [];
    this.run(text, (t, raw) => {
      terms.push(t);
      positions.push(raw.position);
    });
    return { terms, positions };
  }

  analyze(text: string): AnalyzerToken[] {
    const out: AnalyzerToken[] = [];
    // Byte offsets, counted forward from the previous token (tokens come in text order).
    let at = 0;
    let atBytes = 0;
    const bytesAt = (i: number): number => {
      atBytes += utf8Length(text.slice(at, i));
      at = i;
      return atBytes;
    };
    this.run(text, (t, raw) => {
      const startOffset = bytesAt(raw.start);
      const endOffset = startOffset + utf8Length(raw.text);
      out.push({ token: t, startOffset, endOffset, position: raw.position, positionLength: 1, hash: termId(t) });
    });
    return out;
  }
}

const standardTokenizer = regexTokenizer(ALNUM_RUN);

function builtIn(type: string, params: Record<string, unknown>): Analyzer {
  for (const k of Object.keys(params)) {
    if (k !== 'type' && k !== 'stop_words') {
      throw bad(`key "${k}" cannot be combined with "type": "${type}"`, 'a built-in analyzer takes only "stop_words"; for other filters give {"tokenizer": ..., "filter": [...]} without "type"');
    }
  }
  const extraStop = params.stop_words === undefined ? [] : stringList(params.stop_words, 'stop_words');
  const filters: Filter[] = [NAMED_FILTERS.lowercase as Filter];
  switch (type) {
    case 'standard':
      break;
    case 'english':
      // Milvus's english analyzer: lowercase, Snowball English stemmer, then the English stop words.
      filters.push(stemmerFilter('english'), stopFilter(ENGLISH_STOP_WORDS, 'english'));
      break;
    case 'chinese':
      throw bad('the built-in "chinese" analyzer (jieba tokenizer) is not available in Kite', `use one of: ${SUPPORTED_ANALYZER_TYPES.join(', ')}, or a custom {"tokenizer": "standard", "filter": ["cnalphanumonly"]}`);
    default:
      throw bad(`unknown built-in analyzer type "${type}"`, `supported types: ${SUPPORTED_ANALYZER_TYPES.join(', ')}`);
  }
  if (extraStop.length > 0) filters.push(stopFilter(extraStop, 'stop_words'));
  return new Pipeline(standardTokenizer, filters);
}

function parseParams(params: unknown): Record<string, unknown> {
  if (params === undefined || params === null) return {};
  let value = params;
  if (typeof params === 'string') {
    if (params.trim() === '') return {};
    try {
      value = JSON.parse(params);
    } catch (e) {
      throw bad(`not valid JSON (${(e as Error).message}): ${show(params)}`, 'give a JSON object such as {"type": "english"}');
    }
  }
  if (!isObject(value)) throw bad(`must be a JSON object, got ${show(value)}`, 'give e.g. {"type": "standard"} or {"tokenizer": "standard", "filter": ["lowercase"]}');
  return value;
}

/**
 * An analyzer from Milvus's analyzer_params (an object or its JSON text; absent or {} is the standard analyzer).
 * Throws KiteError ParameterInvalid naming the bad key and listing what is supported.
 */
export function createAnalyzer(params: unknown): Analyzer {
  const p = parseParams(params);
  if (Object.keys(p).length === 0) return builtIn('standard', {});
  if (p.type !== undefined) {
    if (typeof p.type !== 'string') throw bad(`"type" must be a string, got ${show(p.type)}`, `supported types: ${SUPPORTED_ANALYZER_TYPES.join(', ')}`);
    return builtIn(p.type, p);
  }
  if (p.tokenizer === undefined) {
    throw bad(`neither "type" nor "tokenizer" is set in ${show(p)}`, 'give {"type": "standard" | "english"} or {"tokenizer": "standard" | "whitespace", "filter": [...]}');
  }
  for (const k of Object.keys(p)) {
    if (k !== 'tokenizer' && k !== 'filter') throw bad(`unknown analyzer option key "${k}"`, 'a custom analyzer takes "tokenizer" and "filter"');
  }
  const tokenizer = buildTokenizer(p.tokenizer);
  const filterSpecs = p.filter ?? [];
  if (!Array.isArray(filterSpecs)) throw bad(`"filter" must be a list, got ${show(filterSpecs)}`, 'give e.g. ["lowercase", {"type": "stop", "stop_words": ["_english_"]}]');
  return new Pipeline(tokenizer, filterSpecs.map((f, i) => buildFilter(f, i)));
}

/** The fields of a collection field's meta that decide its analyzer (structurally @kite/segment's FieldMeta). */
export interface AnalyzerFieldMeta {
  name: string;
  typeParams: Record<string, string>;
}

const MAX_CACHED = 256;
const cache = new Map<string, Analyzer>();

/** True when the field's type params turn its analyzer on (enable_analyzer, as Milvus reads it: "true", any case). */
export function analyzerEnabled(field: AnalyzerFieldMeta): boolean {
  return (field.typeParams.enable_analyzer ?? '').toLowerCase() === 'true';
}

/**
 * A field's analyzer from its type params (enable_analyzer / analyzer_params), cached by its analyzer_params text so
 * that repeated calls (every insert, every filter) share one analyzer. Throws ParameterInvalid naming the field when
 * the field has no analyzer enabled or its params are bad.
 */
export function analyzerOfField(field: AnalyzerFieldMeta): Analyzer {
  if (!analyzerEnabled(field)) {
    throw new KiteError('ParameterInvalid', `field "${field.name}" has no analyzer: create it as a VarChar field with enable_analyzer=True`);
  }
  const key = field.typeParams.analyzer_params ?? '';
  let a = cache.get(key);
  if (a === undefined) {
    try {
      a = createAnalyzer(key);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new KiteError('ParameterInvalid', `field "${field.name}": ${msg}`);
    }
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(key, a);
  }
  return a;
}
