// Unit tests sit beside the code (packages/*/src, services/*/src); integration tests in test/ start real processes.
// Workspace packages are mapped to their sources so tests need no build; `make test` type-checks with tsc first.
const path = require('node:path');
const fs = require('node:fs');

const moduleNameMapper = {};
for (const dir of ['packages', 'services']) {
  const root = path.join(__dirname, dir);
  if (!fs.existsSync(root)) continue;
  for (const name of fs.readdirSync(root)) {
    const pkgFile = path.join(root, name, 'package.json');
    if (!fs.existsSync(pkgFile)) continue;
    const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8'));
    if (fs.existsSync(path.join(root, name, 'src', 'index.ts'))) {
      moduleNameMapper[`^${pkg.name.replace('/', '\\/')}$`] = path.join(root, name, 'src', 'index.ts');
    }
  }
}

const transform = { '^.+\\.ts$': ['ts-jest', { tsconfig: path.join(__dirname, 'tsconfig.jest.json') }] };

module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform,
      moduleNameMapper,
      testMatch: ['<rootDir>/packages/*/src/**/*.test.ts', '<rootDir>/services/*/src/**/*.test.ts'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform,
      // The SDK pulls in uuid@13, which is ESM-only; jest loads a small CommonJS stand-in instead.
      moduleNameMapper: { ...moduleNameMapper, '^uuid$': path.join(__dirname, 'test', 'support', 'uuid-shim.ts') },
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      // Chaos tests kill and restart processes for minutes: they run with `make test-chaos` (KITE_CHAOS=1).
      testPathIgnorePatterns:
        process.env.KITE_CHAOS === '1' ? ['/node_modules/'] : ['/node_modules/', '<rootDir>/test/chaos/'],
    },
  ],
};
