/**
 * The import boundary between the threads: src/shared/ is the leaf both sides import (tensor
 * meta, dtypes, geometry, the task protocol, fault hooks) and it imports nothing else but Node's
 * built-ins; workers/ imports nothing of src/ outside that leaf, and the rest of src/ imports
 * nothing of workers/ (the main thread reaches the workers only through the worker file's URL).
 * Nor does any module of src/ or workers/ import itself through a cycle. Read from the sources'
 * import statements (TypeScript's own pre-processor, dynamic imports included).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Every .ts file below `dir` (relative to the repository root), sorted. */
function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.posix.join(dir, f.split(path.sep).join('/')))
    .sort();
}

/** The module specifiers `file` imports, as written. */
function specifiers(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
}

/** A relative specifier of `from` as the repository path of its source (.js -> .ts; AssemblyScript's extensionless ones get .ts). */
function resolve(from: string, spec: string): string {
  const joined = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  return joined.endsWith('.js') ? `${joined.slice(0, -3)}.ts` : joined.endsWith('.ts') ? joined : `${joined}.ts`;
}

const LEAF = 'src/shared/';
const under = (file: string, dir: string) => file.startsWith(dir);

/** What breaks the boundary in `imports` (file -> its specifiers): one line per offending import. */
export function boundaryViolations(imports: Map<string, string[]>): string[] {
  const out: string[] = [];
  for (const [file, specs] of imports) {
    for (const spec of specs) {
      const relative = spec.startsWith('.');
      const target = relative ? resolve(file, spec) : spec;
      if (under(file, LEAF)) {
        if (relative ? !under(target, LEAF) : !spec.startsWith('node:'))
          out.push(`${file} imports ${spec}: the shared leaf imports only itself and node: built-ins`);
      } else if (under(file, 'workers/')) {
        if (relative && !under(target, 'workers/') && !under(target, LEAF))
          out.push(`${file} imports ${spec}: workers/ imports of src/ only src/shared/`);
      } else if (under(file, 'src/')) {
        if (relative && under(target, 'workers/'))
          out.push(`${file} imports ${spec}: src/ reaches workers/ only through the worker file's URL`);
      }
    }
  }
  return out;
}

/** Every cycle of relative imports in `imports`, each as its files in order. */
function cycles(imports: Map<string, string[]>): string[][] {
  const edges = new Map(
    [...imports].map(([file, specs]) => [file, specs.filter((s) => s.startsWith('.')).map((s) => resolve(file, s))]),
  );
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of edges.get(file) ?? []) {
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of edges.keys()) if (!state.has(file)) visit(file);
  return found;
}

const IMPORTS = new Map(
  [...sources('src'), ...sources('workers')].map((f) => [f, specifiers(readFileSync(path.join(ROOT, f), 'utf8'))]),
);

test('src/shared/ imports only itself and node: built-ins; workers/ imports of src/ only src/shared/; src/ imports nothing of workers/', () => {
  assert.ok(IMPORTS.size > 40 && [...IMPORTS.keys()].some((f) => under(f, LEAF)), 'the sources were found');
  assert.deepEqual(boundaryViolations(IMPORTS), []);
});

test('the boundary check catches each kind of crossing', () => {
  const bad = new Map([
    ['workers/kernels/conv.ts', ['../../src/limits.js', '../../src/shared/tensor.js', './plan.js']],
    ['src/shared/task.ts', ['../worker-pool.js', 'zod', 'node:http', './tensor.js']],
    ['src/metrics.ts', ['../workers/engines/index.js', './shared/task.js']],
  ]);
  assert.deepEqual(
    boundaryViolations(bad).map((v) => v.split(':')[0]),
    [
      'workers/kernels/conv.ts imports ../../src/limits.js',
      'src/shared/task.ts imports ../worker-pool.js',
      'src/shared/task.ts imports zod',
      'src/metrics.ts imports ../workers/engines/index.js',
    ],
  );
});

test('no import cycle in src/ or workers/', () => {
  assert.deepEqual(
    cycles(IMPORTS).map((c) => c.join(' -> ')),
    [],
  );
});
