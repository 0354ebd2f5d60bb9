/**
 * The README for users: short, no link outside the repository, and a settings table that is
 * what src/config.ts says (every variable, the schema's defaults). `npm run docs:config`
 * rewrites the table.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { defaultBudgetBytes } from '../../src/admission/budget.js';
import {
  formatDefault,
  loadConfig,
  SETTING_NAMES,
  SETTINGS,
  SETTINGS_END,
  SETTINGS_START,
  settingDefaults,
  settingsTable,
  type SettingName,
} from '../../src/config.js';

/** The repository root (this file runs as dist/test/service/readme.test.js). */
const root = new URL('../../../', import.meta.url);
const read = (file: string) => readFileSync(new URL(file, root), 'utf8');
const readme = read('README.md');

/** The README's settings table: the text between the markers. */
function readmeTable(markdown: string): string {
  const start = markdown.indexOf(SETTINGS_START);
  const end = markdown.indexOf(SETTINGS_END);
  assert.ok(
    start >= 0 && end > start,
    `README.md must hold the settings table between ${SETTINGS_START} and ${SETTINGS_END}`,
  );
  return markdown.slice(start + SETTINGS_START.length, end).trim();
}

/** variable -> default cell of a Markdown settings table. */
function defaultCells(table: string): Map<string, string> {
  const cells = new Map<string, string>();
  for (const line of table.split('\n').slice(2)) {
    const [variable, shown] = line
      .split('|')
      .slice(1, 3)
      .map((c) => c.trim());
    cells.set(variable.replace(/`/g, ''), shown);
  }
  return cells;
}

/** What is wrong with `table` given the schema's `defaults`: missing or unknown variables, other defaults. */
function tableProblems(table: string, defaults: Record<SettingName, unknown>): string[] {
  const cells = defaultCells(table);
  const problems: string[] = [];
  for (const s of SETTINGS) {
    const shown = cells.get(s.variable);
    const want = s.shownDefault ?? formatDefault(defaults[s.variable], s.unit);
    if (shown === undefined) problems.push(`${s.variable} is missing`);
    else if (shown !== want) problems.push(`${s.variable} shows default ${shown}, the schema says ${want}`);
  }
  for (const variable of cells.keys()) {
    if (!SETTINGS.some((s) => s.variable === variable)) problems.push(`${variable} is not a setting of src/config.ts`);
  }
  return problems;
}

test('README.md is at most 250 lines', () => {
  const lines = readme.split('\n').length - (readme.endsWith('\n') ? 1 : 0);
  assert.ok(lines <= 250, `README.md has ${lines} lines`);
});

test('README.md and docs/*.md link nothing outside the repository (no ../shared)', () => {
  const docs = readdirSync(new URL('docs/', root))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`);
  for (const file of ['README.md', ...docs]) {
    const text = read(file);
    assert.ok(!text.includes('../shared'), `${file} mentions ../shared`);
    assert.ok(!text.includes('/work/shared'), `${file} mentions /work/shared`);
  }
});

test('SETTINGS describes every variable of the schema, once', () => {
  const variables = SETTINGS.map((s) => s.variable);
  assert.deepEqual([...variables].sort(), [...SETTING_NAMES].sort());
  assert.equal(new Set(variables).size, variables.length);
  for (const s of SETTINGS)
    assert.ok(!s.meaning.includes('|') && s.meaning.length > 0, `${s.variable}: a meaning without |`);
});

test('only the defaults that depend on the machine, or are absent, are shown in words', () => {
  const worded = SETTINGS.filter((s) => s.shownDefault !== undefined).map((s) => s.variable);
  assert.deepEqual(worded.sort(), ['CONVD_KERNEL', 'CONVD_MEMORY_BUDGET_BYTES', 'CONVD_POOL_THREADS']);
  const defaults = settingDefaults();
  assert.equal(defaults.CONVD_KERNEL, undefined);
  assert.equal(defaults.CONVD_MEMORY_BUDGET_BYTES, undefined);
  assert.equal(loadConfig({}).memoryBudgetBytes, defaultBudgetBytes());
  assert.equal(loadConfig({}).poolThreads, defaults.CONVD_POOL_THREADS);
});

test("README.md's settings table is the one src/config.ts renders (npm run docs:config rewrites it)", () => {
  const table = readmeTable(readme);
  assert.deepEqual(tableProblems(table, settingDefaults()), []);
  assert.equal(
    table,
    settingsTable(),
    'the table differs from settingsTable() in wording or order: run npm run docs:config',
  );
});

test('a changed default, a missing or an unknown variable is caught', () => {
  const table = readmeTable(readme);
  const defaults = settingDefaults();
  assert.deepEqual(tableProblems(table, { ...defaults, CONVD_MAX_QUEUE: 17 }), [
    'CONVD_MAX_QUEUE shows default `16`, the schema says `17`',
  ]);
  assert.deepEqual(tableProblems(table, { ...defaults, CONVD_MAX_BODY_BYTES: 32 * 2 ** 20 }), [
    'CONVD_MAX_BODY_BYTES shows default `67108864` (64 MiB), the schema says `33554432` (32 MiB)',
  ]);
  const lines = table.split('\n');
  const withoutPort = lines.filter((l) => !l.startsWith('| `PORT`')).join('\n');
  assert.deepEqual(tableProblems(withoutPort, defaults), ['PORT is missing']);
  assert.deepEqual(tableProblems(`${table}\n| \`CONVD_GONE\` | 1 | removed |`, defaults), [
    'CONVD_GONE is not a setting of src/config.ts',
  ]);
  assert.notEqual(settingsTable({ ...defaults, CONVD_DEADLINE_MS: 30_000 }), table);
});
