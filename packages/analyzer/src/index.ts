export { createAnalyzer, analyzerOfField, analyzerEnabled, asciiFold, SUPPORTED_ANALYZER_TYPES, SUPPORTED_TOKENIZERS, SUPPORTED_FILTERS } from './analyzer';
export type { Analyzer, AnalyzerToken, AnalyzerFieldMeta } from './analyzer';
export { termId } from './hash';
export { ENGLISH_STOP_WORDS } from './stopwords';
export { TextIndex } from './text-index';
