// ESLint (flat config): typescript-eslint's recommended rules plus the ones that matter for a server:
// no floating promises (an unhandled rejection crashes a node), and no reaching into another package's src/.
const tseslint = require('typescript-eslint');
const js = require('@eslint/js');

module.exports = tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/build/**', '**/*.generated.*', 'packages/*/bench/**', '.cache/**', 'coverage/**', '**/.scratch/**', '**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.eslint.json', tsconfigRootDir: __dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': ['error', { patterns: [{ group: ['@kite/*/src/*', '../../packages/*/src/*'], message: 'import the package, not its src/' }] }],
    },
  },
);
