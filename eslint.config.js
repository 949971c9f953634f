// ESLint (flat config): typescript-eslint's recommended rules, promises that are never left floating,
// and in workflows/ what the Temporal workflow sandbox cannot take (README: Code conventions).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** What workflow code must not import: it runs in the deterministic sandbox, without Node. */
const NOT_IN_WORKFLOWS = {
  patterns: [
    { group: ['node:*'], message: 'workflow code runs in the Temporal sandbox, without Node built-ins: do it in an activity' },
    {
      group: ['@temporalio/activity', '@temporalio/client', '@temporalio/worker', '@temporalio/testing'],
      message: 'workflow code may use @temporalio/workflow and @temporalio/common only',
    },
    {
      group: ['../activities/*', '../services/*', '../lib/*', '../api/*', '../workers/*'],
      allowTypeImports: true,
      message: 'workflow code imports only types from activities/, services/ and lib/ (they use Node); shared logic belongs in domain/',
    },
  ],
  paths: ['fs', 'path', 'os', 'crypto', 'child_process', 'net', 'http', 'https', 'url', 'util', 'events', 'stream', 'timers'].map(
    (name) => ({
      name,
      message: 'workflow code runs in the Temporal sandbox, without Node built-ins: do it in an activity',
    }),
  ),
};

export default tseslint.config(
  { ignores: ['node_modules/', 'generated/', '.tools/', '.data/', 'test-artifacts/', 'test/fixtures/', 'playbooks/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.mts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname }, globals: globals.node },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'object-shorthand': ['error', 'always'],
      // Prettier wraps code at 140; a long message or pattern stays one string, so it can be searched for.
      'max-len': ['error', { code: 140, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreUrls: true }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', NOT_IN_WORKFLOWS],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'workflow code runs in the Temporal sandbox: no process' },
        { name: 'Buffer', message: 'workflow code runs in the Temporal sandbox: no Buffer' },
        { name: 'setInterval', message: 'use sleep() or condition() with a timeout in workflow code' },
        { name: 'setImmediate', message: 'not in the Temporal sandbox' },
      ],
    },
  },
  {
    // Tests and the bench read loosely typed JSON answers.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['api/dashboard-page/**/*.js'],
    languageOptions: { globals: globals.browser, sourceType: 'script' },
  },
  { files: ['eslint.config.js'], languageOptions: { globals: globals.node } },
);
