// Regenerates the "Compatibility matrix" section of docs/milvus-wire-notes.md from the code (see
// services/kite/src/compat-matrix.ts). `make docs-matrix`; with --check, exits 1 instead of writing when the section
// is out of date.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { computeMatrix, currentMatrix, renderMatrix, replaceMatrix } from '../services/kite/src/compat-matrix';

async function main(): Promise<void> {
  const doc = path.resolve(__dirname, '..', 'docs', 'milvus-wire-notes.md');
  const text = fs.readFileSync(doc, 'utf8');
  const body = renderMatrix(await computeMatrix());
  if (process.argv.includes('--check')) {
    if (currentMatrix(text) !== body) {
      console.error(`${doc}: the compatibility matrix is out of date; run make docs-matrix`);
      process.exit(1);
    }
    console.log('compatibility matrix up to date');
    return;
  }
  const next = replaceMatrix(text, body);
  if (next !== text) fs.writeFileSync(doc, next);
  console.log(next === text ? 'compatibility matrix unchanged' : `compatibility matrix written to ${doc}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
