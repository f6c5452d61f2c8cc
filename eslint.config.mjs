// Lint: typescript-eslint (type-aware, with no-floating-promises) and the import
// rules that enforce the dependency table of SPEC §8.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const NODE_BUILTINS = [
  'node:*',
  'fs',
  'fs/*',
  'path',
  'crypto',
  'os',
  'http',
  'https',
  'net',
  'child_process',
  'stream',
  'url',
  'util',
  'events',
  'worker_threads',
];

const layer = (files, patterns, extra = []) => ({
  files,
  rules: {
    'no-restricted-imports': ['error', { patterns: [...patterns, ...extra] }],
  },
});

const forbid = (group, message, allowTypeImports = false) => ({ group, message, allowTypeImports });

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      '.data/**',
      '.tools/**',
      'dist/**',
      'web/dist/**',
      'bench/results/**',
      'coverage/**',
      'test-artifacts/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', '*.mjs', 'scripts/*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': [
        'error',
        { checksVoidReturn: { arguments: false, attributes: false } },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false },
      ],
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/only-throw-error': 'off',
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
      '@typescript-eslint/no-redundant-type-constituents': 'off',
      '@typescript-eslint/no-empty-object-type': 'off',
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      globals: {
        process: 'readonly',
        module: 'writable',
        require: 'readonly',
        __dirname: 'readonly',
        console: 'readonly',
      },
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  // ---- SPEC §8: dependencies point one way ------------------------------------------
  layer(
    ['src/domain/**/*.ts'],
    [
      forbid(['../*', '../../*'], 'src/domain is pure: it imports nothing else of ours'),
      forbid(NODE_BUILTINS, 'src/domain is pure: no Node built-ins (no I/O, no clock)'),
    ],
  ),
  layer(
    ['src/workflows/**/*.ts'],
    [
      forbid(
        [
          'pg',
          '../db/*',
          '../payments/*',
          '../api/*',
          '../ingest/*',
          '../cli/*',
          '../nostr/*',
          '../logger',
          '../metrics/*',
        ],
        'workflow code is deterministic: domain and the shared contract only',
      ),
      forbid(
        ['../activities', '../activities/*'],
        'workflows reach activities through proxyActivities, typed by `import type`',
        true,
      ),
      forbid(NODE_BUILTINS, 'workflow code runs in the Temporal sandbox: no Node built-ins'),
    ],
  ),
  layer(
    ['src/activities/**/*.ts'],
    [
      forbid(
        ['../api/*', '../ingest/*', '../cli/*', '../workflows/*'],
        'activities never import api, ingest or workflows',
      ),
    ],
  ),
  layer(
    ['src/db/**/*.ts'],
    [
      forbid(
        ['../api/*', '../workflows/*', '../activities/*', '../ingest/*', '../cli/*'],
        'src/db is below everything but domain',
      ),
    ],
  ),
  layer(
    ['src/payments/**/*.ts'],
    [
      forbid(
        ['../api/*', '../workflows/*', '../activities/*', '../ingest/*', '../cli/*'],
        'src/payments never imports api or workflows',
      ),
    ],
  ),
  layer(
    ['src/ingest/**/*.ts'],
    [forbid(['../api/*', '../workflows/*', '../cli/*'], 'src/ingest never imports the api')],
  ),
  layer(
    ['src/api/**/*.ts'],
    [
      forbid(
        ['../workflows/*', '../../workflows/*', '../ingest/*', '../../ingest/*', '../cli/*', '../../cli/*'],
        'the api uses only the shared contract (src/contract.ts), never workflow internals',
      ),
    ],
  ),
);
