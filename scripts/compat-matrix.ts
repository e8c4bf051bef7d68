// Regenerates the "Compatibility matrix" section of docs/milvus-wire-notes.md and its summary in README.md from the
// code (see services/kite/src/compat-matrix.ts). `make docs-matrix`; with --check, exits 1 instead of writing when
// either section is out of date.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  BEGIN_MARKER,
  END_MARKER,
  SUMMARY_BEGIN_MARKER,
  SUMMARY_END_MARKER,
  computeMatrix,
  renderMatrix,
  renderSummary,
  replaceBetween,
  textBetween,
} from '../services/kite/src/compat-matrix';

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '..');
  const matrix = await computeMatrix();
  const targets = [
    { file: path.join(root, 'docs', 'milvus-wire-notes.md'), begin: BEGIN_MARKER, end: END_MARKER, body: renderMatrix(matrix), what: 'compatibility matrix' },
    { file: path.join(root, 'README.md'), begin: SUMMARY_BEGIN_MARKER, end: SUMMARY_END_MARKER, body: renderSummary(matrix), what: 'compatibility summary' },
  ];
  const check = process.argv.includes('--check');
  let stale = false;
  for (const { file, begin, end, body, what } of targets) {
    const text = fs.readFileSync(file, 'utf8');
    if (check) {
      if (textBetween(text, begin, end) !== body) {
        console.error(`${file}: the ${what} is out of date; run make docs-matrix`);
        stale = true;
      } else {
        console.log(`${what} up to date`);
      }
      continue;
    }
    const next = replaceBetween(text, begin, end, body);
    if (next !== text) fs.writeFileSync(file, next);
    console.log(next === text ? `${what} unchanged` : `${what} written to ${file}`);
  }
  if (stale) process.exit(1);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
