/**
 * `npm run fuzz -- [--scale 10] [--seed N]`: the wire fuzz of test/fuzz/ with `scale` times the
 * runs of `npm test` (about 4,600 inputs per unit of scale) and a seed of your choice (a random
 * one by default, printed so that a failure can be replayed).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from './common.js';

const args = parseArgs(process.argv.slice(2));
const scale = String(args.scale ?? 10);
const seed = String(args.seed ?? Math.floor(Math.random() * 2 ** 31));
console.error(`fuzz: scale ${scale}, seed ${seed} (replay: npm run fuzz -- --scale ${scale} --seed ${seed})`);
const test = fileURLToPath(new URL('../../test/fuzz/wire.test.js', import.meta.url));
const run = spawnSync(process.execPath, ['--test', '--test-reporter=spec', test], {
  stdio: 'inherit',
  env: { ...process.env, CONVD_FUZZ_SCALE: scale, CONVD_FUZZ_SEED: seed },
});
process.exit(run.status ?? 1);
