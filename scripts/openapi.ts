/**
 * `npm run openapi`: writes openapi/openapi.json from the routes' schemas (the same bytes
 * GET /openapi.json serves). CI regenerates it and fails on any difference.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { buildApp } from '../src/app.js';
import { OPENAPI_FILE, openapiText } from '../src/openapi.js';

const { app } = await buildApp({ config: { logLevel: 'silent', poolThreads: 1 } });
await app.ready();
mkdirSync(dirname(OPENAPI_FILE), { recursive: true });
writeFileSync(OPENAPI_FILE, openapiText(app));
await app.close();
console.log(`wrote ${OPENAPI_FILE}`);
