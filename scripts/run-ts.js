// Runs a TypeScript file in a plain Node process, for crash tests that must SIGKILL a real child process.
// Jest (ts-jest) only transpiles inside its own process, so the child registers a require hook that transpiles
// `.ts` files with the workspace's `typescript` (transpileModule: no type check, a few ms per file) and maps
// `@kite/<pkg>` to packages/<pkg>/src/index.ts (or services/<pkg>/src/index.ts) as jest.config.js does. Usage: node run-ts.js <file.ts> [args...]
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const ts = require('typescript');

const workspace = path.resolve(__dirname, '..');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  const m = /^@kite\/([^/]+)$/.exec(request);
  if (m) {
    for (const dir of ['packages', 'services']) {
      const src = path.join(workspace, dir, m[1], 'src', 'index.ts');
      if (fs.existsSync(src)) return src;
    }
  }
  return resolve.call(this, request, parent, ...rest);
};
require.extensions['.ts'] = (module, filename) => {
  const out = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
    fileName: filename,
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2022,
      esModuleInterop: true,
      inlineSourceMap: true,
    },
  });
  module._compile(out.outputText, filename);
};

const [file, ...args] = process.argv.slice(2);
if (!file) {
  console.error('usage: node run-ts.js <file.ts> [args...]');
  process.exit(2);
}
process.argv = [process.argv[0], path.resolve(file), ...args];
require(path.resolve(file));
