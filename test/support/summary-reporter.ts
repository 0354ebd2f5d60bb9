/**
 * A node:test reporter that closes the run with the failing tests by name (suite path, file and
 * line) and one plain line `N passed, M failed`. It runs beside the spec reporter:
 *   node --test --test-reporter=spec --test-reporter-destination=stdout \
 *               --test-reporter=./dist/test/support/summary-reporter.js --test-reporter-destination=stdout
 */
import path from 'node:path';
import type { TestEvent } from 'node:test/reporters';

interface Failure {
  name: string;
  where: string;
  message: string;
}

export default async function* summaryReporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  let passed = 0;
  const failures: Failure[] = [];
  // names of the suites currently open, by nesting level (test:start arrives in declaration order)
  const open: string[] = [];
  for await (const event of source) {
    if (event.type === 'test:start') {
      open.length = event.data.nesting;
      open.push(event.data.name);
    } else if (event.type === 'test:pass' || event.type === 'test:fail') {
      const { data } = event;
      if (data.details.type === 'suite') continue;
      if (event.type === 'test:pass') {
        if (!data.skip && !data.todo) passed += 1;
        continue;
      }
      const error = event.data.details.error as (Error & { cause?: unknown }) | undefined;
      const cause = error?.cause instanceof Error ? error.cause : error;
      failures.push({
        name: [...open.slice(0, data.nesting), data.name].join(' > '),
        where: data.file ? `${path.relative(process.cwd(), data.file)}:${data.line ?? 0}` : '(no file)',
        message: String(cause?.message ?? 'failed')
          .split('\n')[0]
          .slice(0, 200),
      });
    }
  }
  if (failures.length > 0) {
    yield `\nFailing tests (${failures.length}):\n`;
    for (const f of failures) yield `  ✖ ${f.name}  (${f.where})\n      ${f.message}\n`;
  }
  yield `\n${passed} passed, ${failures.length} failed\n`;
}
