// The client is linted with the repository's rules (../../eslint.config.js), from this folder and
// after `npm ci` here, so that the types of its own dependencies (openapi-fetch, msgpackr) resolve:
//   ../../node_modules/.bin/eslint .        (scripts/ci/clients.sh runs it)
// Its tests are compiled by tsconfig.test.json, not by the package's tsconfig.json.
import repository from '../../eslint.config.js';

export default [
  ...repository,
  { ignores: ['src/schema.d.ts'] },
  {
    files: ['test/**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: false, project: ['./tsconfig.test.json'], tsconfigRootDir: import.meta.dirname },
    },
  },
];
