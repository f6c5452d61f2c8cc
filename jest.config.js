/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.(ts|js|mjs)$': [
      'ts-jest',
      {
        // type-checking is `npm run typecheck`; jest only transpiles (isolatedModules)
        tsconfig: {
          module: 'commonjs',
          moduleResolution: 'node10',
          target: 'ES2022',
          esModuleInterop: true,
          isolatedModules: true,
          allowJs: true,
        },
      },
    ],
  },
  // @noble/* and @scure/* (under nostr-tools) ship ESM only: compile them to CommonJS for jest
  transformIgnorePatterns: ['/node_modules/(?!(@noble|@scure)/)'],
  globalSetup: '<rootDir>/test/setup/globalSetup.ts',
  globalTeardown: '<rootDir>/test/setup/globalTeardown.ts',
  testTimeout: 120000,
  maxWorkers: 2,
  // integration files each start workers; keep output readable
  verbose: true,
};
