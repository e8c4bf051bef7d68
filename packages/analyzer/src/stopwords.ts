/**
 * Stop-word lists a `stop` filter (or a built-in analyzer's `stop_words`) can name as `_language_`. Milvus takes these
 * from the Snowball project; the English one below is the list Milvus's `english` analyzer always removes.
 */
export const ENGLISH_STOP_WORDS: readonly string[] = [
  'a', 'an', 'and', 'are', 'as', 'at', 'be', 'but', 'by', 'for', 'if', 'in', 'into', 'is', 'it',
  'no', 'not', 'of', 'on', 'or', 'such', 'that', 'the', 'their', 'then', 'there', 'these',
  'they', 'this', 'to', 'was', 'will', 'with',
];

const BUILT_IN: Record<string, readonly string[]> = { _english_: ENGLISH_STOP_WORDS };

/** The named lists Milvus knows but Kite does not ship; naming one is refused instead of matching it literally. */
const KNOWN_ELSEWHERE = new Set([
  '_chinese_', '_danish_', '_dutch_', '_finnish_', '_french_', '_german_', '_hungarian_', '_italian_',
  '_norwegian_', '_portuguese_', '_russian_', '_spanish_', '_swedish_',
]);

/**
 * Expands `_english_` into its words; any other entry is a literal stop word (as in Milvus, where an unknown
 * `_name_` is a word too). Returns an error text for a language list Kite does not ship.
 */
export function expandStopWords(words: readonly string[]): { words: string[] } | { error: string } {
  const out: string[] = [];
  for (const w of words) {
    const list = BUILT_IN[w];
    if (list !== undefined) {
      out.push(...list);
    } else if (KNOWN_ELSEWHERE.has(w)) {
      return { error: `the stop-word list ${w} is not built into Kite; supported lists: ${Object.keys(BUILT_IN).join(', ')}; or list the words themselves` };
    } else {
      out.push(w);
    }
  }
  return { words: out };
}
