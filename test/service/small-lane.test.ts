/**
 * The small-task lane: with one main thread blocked by a big task (and a full queue behind it),
 * a small task still runs at once on its own thread; big tasks never take the small lane; and
 * the main lane's idle-thread count the split decision reads.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Task } from '../../src/shared/task.js';
import { WorkerPool, QueueFullError } from '../../src/worker-pool.js';
import { fakePool } from './helpers.js';

test('small tasks do not wait behind big ones; big ones do not use the small lane', async () => {
  const { pool } = fakePool({ threads: 1, maxQueue: 1, blockMs: 400, smallLane: { threads: 1, maxFlops: 1000 } });
  await pool.started;
  try {
    const task = { tensors: {} } as Task;
    const signal = new AbortController().signal;
    const big = [pool.run(task, signal, 1e9), pool.run(task, signal, 1e9)]; // one running, one queued
    await assert.rejects(
      pool.run(task, signal, 1001),
      QueueFullError,
      'a task over the small limit queues with the big ones',
    );
    const t0 = performance.now();
    await pool.run(task, signal, 1000);
    const waited = performance.now() - t0;
    assert.ok(
      waited < 780,
      `the small task waited ${Math.round(waited)} ms: it queued behind the two big ones (800 ms)`,
    );
    await Promise.all(big);
    assert.equal(pool.stats().threads, 2);
  } finally {
    await pool.close();
  }
});

test('without a small lane every task shares the one queue', async () => {
  const pool: WorkerPool = fakePool({ threads: 1, maxQueue: 0, blockMs: 200 }).pool;
  await pool.started;
  try {
    const running = pool.run({ tensors: {} } as Task, new AbortController().signal, 1e9);
    await assert.rejects(pool.run({ tensors: {} } as Task, new AbortController().signal, 1), QueueFullError);
    await running;
  } finally {
    await pool.close();
  }
});

test('idleThreads counts the main lane threads not yet promised a task (small-lane tasks do not take them)', async () => {
  const { pool } = fakePool({ threads: 2, maxQueue: 2, blockMs: 150, smallLane: { threads: 1, maxFlops: 1000 } });
  await pool.started;
  try {
    const signal = new AbortController().signal;
    assert.equal(pool.idleThreads(), 2);
    const small = pool.run({ tensors: {} } as Task, signal, 10);
    assert.equal(pool.idleThreads(), 2, 'a small task runs on its own lane');
    const big = pool.run({ tensors: {} } as Task, signal, 1e9);
    assert.equal(pool.idleThreads(), 1);
    const more = [pool.run({ tensors: {} } as Task, signal, 1e9), pool.run({ tensors: {} } as Task, signal, 1e9)]; // one runs, one queues
    assert.equal(pool.idleThreads(), 0);
    await Promise.all([small, big, ...more]);
    assert.equal(pool.idleThreads(), 2);
  } finally {
    await pool.close();
  }
});
