// ESLint for the service, its workers, tests, benchmarks and scripts:
// typescript-eslint's type-aware recommended rules, with formatting left to Prettier.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/dist-test/**',
      '**/node_modules/**',
      // AssemblyScript: its own compiler (asc) checks it; decorators and portable casts are not TypeScript.
      'workers/wasm/**',
      'test/fixtures/**',
      // The clients are packages of their own, with their own dependencies: the TypeScript one is
      // linted from its folder (clients/typescript/eslint.config.js) once `npm ci` there installed them.
      'clients/**',
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // `_name` marks a parameter an interface requires but this implementation does not read.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Fastify plugins, hooks and handlers are async by contract (the returned promise tells Fastify
      // they finished), as are interface methods some implementations answer synchronously.
      '@typescript-eslint/require-await': 'off',
      // Shapes and lists in messages read as `2,3,5`, which is what they mean there.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowArray: true }],
    },
  },
  {
    // Tests, benchmarks and scripts read decoded response bodies and manifests (typed `any` by
    // supertest, msgpackr and JSON.parse) and call node:test's `test()` / `describe()`, whose
    // returned promises the runner itself awaits. Checking them for `any` or floating promises
    // would flag every assertion.
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
