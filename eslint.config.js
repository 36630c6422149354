// keyward's linter: the layer boundaries (docs/architecture.md) and the bugs types can catch.
// Formatting is Prettier's job (npm run format:check); nothing here is about style.
import tseslint from 'typescript-eslint';

/** A relative import into one of these top-level folders. */
const into = (...folders) => ({ regex: `^(\\.{1,2}/)+(${folders.join('|')})/`, message: `layers run one way: kernel ← scanners ← daemon ← cli (docs/architecture.md#layers)` });

/** The same for `await import(...)`, which no-restricted-imports does not see. */
const dynamicInto = (...folders) => ['error', { selector: `ImportExpression[source.value=/^(\\.{1,2}\\/)+(${folders.join('|')})\\//]`, message: into(...folders).message }];

const NODE_IO = ['fs', 'fs/promises', 'child_process', 'worker_threads', 'net', 'http', 'https', 'os'].flatMap((m) => [m, `node:${m}`]);

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'reports/**', '.bench/**', '.eval/**', 'test/fixtures/**', '.stryker-tmp/**', 'test/clients/node_modules/**'] },
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { project: './tsconfig.check.json', tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // A promise nobody awaits fails silently: a lost audit record, a test that passes too early.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
      'no-debugger': 'error',
      eqeqeq: ['error', 'smart'],
    },
  },
  {
    files: ['kernel/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [into('cli', 'daemon', 'scanners')] }], 'no-restricted-syntax': dynamicInto('cli', 'daemon', 'scanners') },
  },
  { files: ['scanners/**'], rules: { 'no-restricted-imports': ['error', { patterns: [into('cli', 'daemon')] }], 'no-restricted-syntax': dynamicInto('cli', 'daemon') } },
  {
    // Detection is pure: bytes in, matches out. The engine and the sources do the I/O.
    files: ['scanners/detect/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: NODE_IO.map((name) => ({ name, message: 'scanners/detect/ does no I/O: reading belongs in scanners/engine/ or scanners/sources/' })),
          patterns: [into('cli', 'daemon'), { regex: '^\\.\\./(engine|sources)/', message: 'scanners/detect/ does no I/O: it may not import the engine or the sources' }],
        },
      ],
    },
  },
  { files: ['daemon/**'], rules: { 'no-restricted-imports': ['error', { patterns: [into('cli')] }], 'no-restricted-syntax': dynamicInto('cli') } },
  {
    // Tests that cannot pass by accident (docs/testing.md#how-to-write-a-test-here).
    files: ['test/**/*.ts', 'test/**/*.tsx'],
    // Helpers implement the waits (polling a state between short pauses).
    ignores: ['test/helpers/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'NewExpression[callee.name="Promise"] CallExpression[callee.name="setTimeout"]',
          message: 'a fixed sleep in a test: wait for the state instead (waitFor in test/helpers/wait.ts, or an event)',
        },
        {
          selector: 'IfStatement > :matches(BlockStatement, ExpressionStatement) CallExpression[callee.name="expect"]',
          message: 'an expect inside an if can be skipped: assert the condition too, or split the test',
        },
        {
          selector: ':matches(ConditionalExpression, LogicalExpression) CallExpression[callee.name="expect"]',
          message: 'an expect that runs only on one branch can be skipped: assert unconditionally',
        },
      ],
    },
  },
);
