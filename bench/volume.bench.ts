import { WithStartWorkflowOperation, WorkflowIdConflictPolicy } from '@temporalio/client';
import autocannon from 'autocannon';
import type { ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { mintToken } from '../src/api/auth';
import type { BenchOptions, BenchOutcome } from '../src/cli/bench';
import { startLocalServices, type LocalServices } from '../src/dev/services';
import { RefundStats } from '../src/persistence/refund-events';
import { subscriptionDoc } from '../test/support/fixtures';
import { startRefundStack, type RefundStack } from '../test/support/refund-stack';
import { registration } from './ceiling/workflow';
import { BULK_CREATORS, BULK_USERS, bulkRefunds } from './bulk-refunds';
import { group, times } from './harness';
import { cpuBetween, cpuByProcess, describeCpu } from './cpu-by-process';
import { percentiles, pointTestSupportAt, quietTemporalRuntime, rssOf, serveApi, settled, startWorkerProcess, stopProcess, withCeilingWorker, workerPid, workerReady, type Latency } from './local-stack';

/**
 * (d) The product at real volume, on the embedded default store (FerretDB over
 * PostgreSQL; LOCAL_STORE=sqlite for the fallback), with the worker in its own
 * process as `npm run worker` runs it (compiled, with its Node flags) and the API in this one. Seeds the
 * subscriptions, then at each size: refunds through the real path (POST, 1 and
 * 8 in flight), reads at a fixed 100 and 200 req/s (autocannon), store and
 * Temporal round trips per request, and payouts through approve -> paid. Then
 * the sweep over every subscription, the worker's RSS with refunds waiting,
 * the engine ceiling, and the first list of one creator with many refunds.
 * Everything that is not under test is bulk-created (see `bulkRefunds`).
 * Prints figures and ratios, never pass/fail.
 */

export const title = '(d) volume: intake, reads, payouts, sweep and worker memory at real sizes (local stack, worker process)';

interface Plan {
  subscriptions: number;
  sizes: number[];
  sequentialPosts: number;
  parallelPosts: number;
  readSeconds: number;
  payouts: number;
  sweepOwed: number;
  waitingForRss: number;
  /** RSS samples, 5 s apart, once the refunds for the memory check wait. */
  idleRssSamples: number;
  ceilingRuns: number;
  /** Refunds of one creator, bulk-created at the end: the cost of its first list. */
  bigCreator: number;
}

const FULL: Plan = {
  subscriptions: 100_000,
  sizes: [1_000, 10_000, 50_000],
  sequentialPosts: 40,
  parallelPosts: 200,
  readSeconds: 8,
  payouts: 60,
  sweepOwed: 500,
  waitingForRss: 5_000,
  idleRssSamples: 12,
  ceilingRuns: 400,
  bigCreator: 10_000,
};
const QUICK: Plan = {
  subscriptions: 5_000,
  sizes: [200, 2_000],
  sequentialPosts: 10,
  parallelPosts: 40,
  readSeconds: 2,
  payouts: 10,
  sweepOwed: 50,
  waitingForRss: 200,
  idleRssSamples: 3,
  ceilingRuns: 60,
  bigCreator: 1_000,
};

const REFUNDS_PATH = '/api/refunds/pro-rata';
const USERS = BULK_USERS;
const CREATORS = BULK_CREATORS;
const RATES = [100, 200];
const IN_FLIGHT = 8;

export async function run(log: (line: string) => void, options: BenchOptions = { quick: false }): Promise<BenchOutcome> {
  const plan = options.quick ? QUICK : FULL;
  quietTemporalRuntime();
  const started = performance.now();
  let services: LocalServices;
  try {
    services = await startLocalServices({ log: () => undefined });
  } catch (error) {
    return { status: 'skipped', reason: `the local services could not be started: ${(error as Error).message.split('\n')[0]}` };
  }
  const restoreEnv = pointTestSupportAt(services);
  let stack: RefundStack | undefined;
  let worker: ChildProcess | undefined;
  let api: Awaited<ReturnType<typeof serveApi>> | undefined;
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'prorata-bench-'));
  try {
    log(
      `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, load average ${os.loadavg()[0]!.toFixed(1)} at the start (other processes share the cores); store: FerretDB over ${services.store}`,
    );
    stack = await startRefundStack({ worker: false, env: { LOG_LEVEL: 'error' } });
    worker = startWorkerProcess(stack, path.join(logDir, 'worker.log'));
    await workerReady(stack);
    const counters = countRoundTrips(stack);
    const stats = new RefundStats(stack.mongo);
    api = await serveApi(stack, stats);
    const { baseUrl } = api;
    const admin = await mintToken(stack.config.auth.jwtSecret, { sub: 'bench-admin', role: 'admin' }, '6h');

    // --- subscriptions ------------------------------------------------------
    const seedStarted = performance.now();
    const reserved = 2 + plan.sizes.length * (plan.sequentialPosts + plan.parallelPosts) + plan.waitingForRss + plan.payouts * plan.sizes.length;
    const subs = await seedSubscriptions(stack, plan.subscriptions, reserved, plan.sweepOwed);
    log(
      `seeded ${group(plan.subscriptions)} subscriptions in ${seconds(seedStarted)} (insertMany, 1 000 a batch): ${group(plan.sweepOwed)} cancelled and owed a refund nobody asked for (the sweep's work), the rest active; ${group(reserved)} of those are asked for through the API`,
    );
    log(`setup ${seconds(started)}; refunds not under test are bulk-created: records inserted directly, final statuses only (84 % completed, 8 % rejected, 8 % cancelled), with their event-log entries; every pending refund is a real one with its workflow`);

    // Warm-up, not measured: the worker process bundles its workflows and starts polling.
    await postRefunds(baseUrl, stack, subs, 2, 1, counters);
    const workerProcess = workerPid(worker); // the compiled worker bootstrap.cjs handed over to, for its CPU and RSS
    log(`worker process RSS after start-up: ${(rssOf(workerProcess) / 2 ** 20).toFixed(0)} MiB`);

    // --- the engine ceiling, on the quiet server ---
    const ceiling = await engineCeiling(stack, plan.ceilingRuns);
    log(`engine ceiling: a no-I/O workflow of the same shape (update-with-start answered in the first task, 1 + 3 activities), ${IN_FLIGHT} in flight, same server: ${ceiling.toFixed(1)} starts/s`);
    const ceilingWithAttributes = await engineCeiling(stack, plan.ceilingRuns, true);
    log(`  the same, also setting the 4 search attributes the refund workflow sets at registration (a visibility write on the server): ${ceilingWithAttributes.toFixed(1)} starts/s`);
    const intakes: string[] = [];

    const growth = new Map<string, { first: number; last: number }>();
    let created = 0;
    const real: { refundId: string; userId: string; creatorId: string }[] = [];
    for (const size of plan.sizes) {
      const bulk = size - created - plan.sequentialPosts - plan.parallelPosts;
      const bulkStarted = performance.now();
      if (bulk > 0) {
        await bulkRefunds(stack.mongo, stack.refunds.events, bulk, created);
        created += bulk;
      }
      const foldStarted = performance.now();
      await stats.fresh();
      log('');
      log(`== ${group(size)} refunds (${group(Math.max(bulk, 0))} bulk-created in ${seconds(bulkStarted)}; the API's event-log fold caught up with them in ${seconds(foldStarted)}) ==`);

      // --- intake through the real path ---
      const one = await postRefunds(baseUrl, stack, subs, plan.sequentialPosts, 1, counters);
      await settled(workerProcess);
      const cpuBefore = cpuByProcess(workerProcess);
      const eight = await postRefunds(baseUrl, stack, subs, plan.parallelPosts, IN_FLIGHT, counters);
      // The reads below wait for the worker to be idle anyway: until then it records the refunds and sends their notifications.
      const settling = await settled(workerProcess);
      const intakeCpu = cpuBetween(cpuBefore, cpuByProcess(workerProcess));
      created += one.ids.length + eight.ids.length;
      real.push(...one.ids, ...eight.ids);
      intakes.push(`${group(size)}: ${((eight.perSecond / ceiling) * 100).toFixed(0)} % (${((eight.perSecond / ceilingWithAttributes) * 100).toFixed(0)} % of the ceiling with search attributes)`);
      log(`POST ${REFUNDS_PATH}: 1 in flight ${eight.failures + one.failures ? '' : ''}${one.perSecond.toFixed(1)}/s p50 ${ms(one.latency.p50)} p99 ${ms(one.latency.p99)}; ${IN_FLIGHT} in flight ${eight.perSecond.toFixed(1)}/s p50 ${ms(eight.latency.p50)} p99 ${ms(eight.latency.p99)}; round trips per request: store ${one.store.toFixed(1)}, Temporal ${one.temporal.toFixed(1)}${one.failures + eight.failures ? `; ${one.failures + eight.failures} failed!` : ''}`);

      log(`  CPU of taking a refund in (${IN_FLIGHT} in flight, from the POST until the worker had recorded it and sent its notifications): ${describeCpu(intakeCpu, eight.ids.length, 'refund')}`);

      // --- reads at a fixed rate, once the worker has finished the POSTs' activities ---
      const sample = real.slice(-50);
      const someone = real[real.length - 1]!;
      const endpoints = [
        { name: 'GET /:refundId', paths: sample.map(({ refundId }) => `${REFUNDS_PATH}/${refundId}`) },
        { name: 'user list', paths: [`${REFUNDS_PATH}/user/${someone.userId}?limit=20`] },
        { name: 'creator list', paths: [`${REFUNDS_PATH}/creator/${someone.creatorId}?limit=20`] },
        { name: 'pending list', paths: [`${REFUNDS_PATH}/pending/all?limit=20`] },
        { name: 'statistics', paths: [`${REFUNDS_PATH}/statistics`] },
        { name: 'status', paths: ['/api/status'] },
      ];
      log(`reads start once the worker is idle (under 10 % of a core for 2 s): it was after ${(settling / 1000).toFixed(1)} s`);
      log(`${'endpoint'.padEnd(15)} ${RATES.map((rate) => `${`${rate}/s asked: served`.padStart(22)} ${'p50'.padStart(8)} ${'p99'.padStart(8)}`).join('  ')}   round trips/req (store, Temporal); at ${RATES[0]}/s, the longest event-loop stall and GC pause of this process (API and load generator)`);
      for (const endpoint of endpoints) {
        const cells: string[] = [];
        let trips = '';
        let stalls = '';
        for (const rate of RATES) {
          const before = counters.snapshot();
          const pauses = watchPauses();
          const result = await fixedRate(baseUrl, admin, endpoint.paths, rate, plan.readSeconds);
          const paused = pauses.stop();
          const after = counters.snapshot();
          cells.push(`${result.served.toFixed(0).padStart(22)} ${ms(result.p50).padStart(8)} ${ms(result.p99).padStart(8)}${result.failures ? ` (${result.failures} non-2xx/errors!)` : ''}`);
          if (rate === RATES[0]) {
            trips = `${((after.store - before.store) / Math.max(result.requests, 1)).toFixed(2)}, ${((after.temporal - before.temporal) / Math.max(result.requests, 1)).toFixed(2)}`;
            stalls = `; loop ${ms(paused.loopMaxMs)}, GC ${ms(paused.gcMaxMs)}`;
            const entry = growth.get(endpoint.name) ?? { first: result.p99, last: result.p99 };
            entry.last = result.p99;
            growth.set(endpoint.name, entry);
          }
        }
        log(`${endpoint.name.padEnd(15)} ${cells.join('  ')}   ${trips}${stalls}`);
      }
      const postEntry = growth.get('POST (8 in flight)') ?? { first: eight.latency.p99, last: eight.latency.p99 };
      postEntry.last = eight.latency.p99;
      growth.set('POST (8 in flight)', postEntry);

      // --- payouts through the real path ---
      const toPay = real.splice(0, plan.payouts);
      const payout = await payOut(baseUrl, admin, stats, toPay.map(({ refundId }) => refundId));
      log(`payouts: ${toPay.length} approved (${IN_FLIGHT} in flight) and paid on anvil (one treasury wallet, automine) in ${(payout.ms / 1000).toFixed(1)} s: ${payout.perSecond.toFixed(1)} payouts/s`);
    }

    log('');
    log(`growth of p99 at 100 req/s from ${group(plan.sizes[0]!)} to ${group(plan.sizes[plan.sizes.length - 1]!)} refunds (target ≤ 2×): ${[...growth].map(([name, { first, last }]) => `${name} ${times(last / Math.max(first, 1))}`).join(', ')}`);

    // --- the sweep over every subscription ---
    const sweepStarted = performance.now();
    const totals = await stack.client.workflow.execute('refundSweepWorkflow', {
      taskQueue: stack.config.temporal.taskQueue,
      workflowId: `bench-sweep-${crypto.randomBytes(4).toString('hex')}`,
      args: [{}],
    });
    log(
      `sweep over ${group(plan.subscriptions)} subscriptions and ${group(created)} refunds: ${seconds(sweepStarted)} (target < 60 s); found ${totals.found}, started ${totals.started}, skipped ${totals.skipped}, reconciled ${totals.reconciled}, errors ${totals.errors}${totals.errors ? ` (${totals.errorSamples.slice(0, 3).join('; ')})` : ''}`,
    );

    log(`load average now ${os.loadavg()[0]!.toFixed(1)}`);
    log(`the pipeline's intake (POST, ${IN_FLIGHT} in flight) as a share of the engine ceiling (target ≥ 50 %): ${intakes.join(', ')}`);

    // --- worker memory with refunds waiting for approval ---
    const waiting = () => stats.fresh().then((fold) => fold.countsByStatus().pending_approval);
    const fillStarted = performance.now();
    let pendingNow = await waiting();
    const livePending = real.length + totals.started;
    if (livePending < plan.waitingForRss) {
      const fill = await postRefunds(baseUrl, stack, subs, plan.waitingForRss - livePending, IN_FLIGHT, counters);
      real.push(...fill.ids);
      log(`requested ${fill.ids.length} more refunds through the API for the memory check: ${fill.perSecond.toFixed(1)}/s p99 ${ms(fill.latency.p99)} (${seconds(fillStarted)})`);
    }
    pendingNow = await waiting();
    // Right after the burst, and once the worker has sat idle with them waiting (V8 gives memory back to the
    // system only some time after allocation stops; waiting for approval is where these refunds spend their days).
    const workerRss = () => rssOf(workerProcess) / 2 ** 20;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const afterBurst = workerRss();
    const idle: number[] = [];
    for (let i = 0; i < plan.idleRssSamples; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      idle.push(workerRss());
    }
    log(
      `worker process RSS with ${group(real.length + totals.started)} refund workflows waiting for approval (${group(pendingNow)} pending records in all): ${afterBurst.toFixed(0)} MiB 2 s after the last was asked for; ${idle.at(-1)?.toFixed(0) ?? '-'} MiB after ${(plan.idleRssSamples * 5).toString()} s idle (samples every 5 s: ${idle.map((value) => value.toFixed(0)).join(', ')}) (target < 300 MB = 286 MiB; WORKER_MAX_CACHED_WORKFLOWS=${process.env.WORKER_MAX_CACHED_WORKFLOWS ?? stack.config.worker.maxCachedWorkflows}, set it in the environment to compare)`,
    );

    // --- one creator with many refunds: its first list reads its page, not all of its refunds ---
    const bigStarted = performance.now();
    await bulkRefunds(stack.mongo, stack.refunds.events, plan.bigCreator, created, { creatorId: 'bench-big-creator' });
    created += plan.bigCreator;
    await stats.fresh();
    const bigList = `${baseUrl}${REFUNDS_PATH}/creator/bench-big-creator?limit=20`;
    const firstList = await timedGet(bigList, admin);
    const nextList = await timedGet(bigList, admin);
    log(
      `one creator with ${group(plan.bigCreator)} refunds (bulk-created in ${seconds(bigStarted)}): its first list (20 of them) ${ms(firstList.ms)}, the next ${ms(nextList.ms)}${firstList.items === 20 ? '' : ` (${firstList.items} items!)`}`,
    );
    return { status: 'ran' };
  } finally {
    await api?.close();
    await stopProcess(worker);
    await stack?.close();
    restoreEnv();
    await services.stop();
    fs.rmSync(logDir, { recursive: true, force: true });
  }
}

// --- seeding ---------------------------------------------------------------

interface SeededSubscriptions {
  /** Cancelled subscriptions reserved for refunds through the API, used in order. */
  forApi: { subscriptionId: string; userId: string; creatorId: string }[];
}

async function seedSubscriptions(stack: RefundStack, total: number, reserved: number, owed: number): Promise<SeededSubscriptions> {
  // Only what the API is asked for is kept: this process is also the API under test, and whatever else it holds
  // lengthens the API's GC pauses (93 600 seeded documents kept here once made a 75 ms pause in a read round).
  const seeded: SeededSubscriptions = { forApi: [] };
  const wallet = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
  for (let start = 0; start < total; start += 1_000) {
    const batch = Array.from({ length: Math.min(1_000, total - start) }, (_, j) => {
      const i = start + j;
      const userId = `bench-user-${i % USERS}`;
      const creatorId = `bench-creator-${i % CREATORS}`;
      const forApi = i < reserved;
      const owedOne = !forApi && i < reserved + owed;
      // Refunds through the API are asked for on active subscriptions (eligibility does not look at the status), so the sweep leaves them alone.
      const doc = subscriptionDoc({ userId, creatorId, userWalletAddress: wallet, status: owedOne ? 'cancelled' : 'active', cancelledAt: owedOne ? new Date() : null });
      const entry = { subscriptionId: doc._id.toHexString(), userId, creatorId };
      if (forApi) seeded.forApi.push(entry);
      return doc;
    });
    await stack.subscriptions.insertMany(batch, { ordered: false });
  }
  return seeded;
}

// --- the real path -----------------------------------------------------------

interface PostRun {
  ids: { refundId: string; userId: string; creatorId: string }[];
  perSecond: number;
  latency: Latency;
  failures: number;
  store: number;
  temporal: number;
}

async function postRefunds(baseUrl: string, stack: RefundStack, subs: SeededSubscriptions, count: number, inFlight: number, counters: RoundTrips): Promise<PostRun> {
  const todo = subs.forApi.splice(0, count);
  const latencies: number[] = [];
  const ids: PostRun['ids'] = [];
  let failures = 0;
  const tokens = new Map<string, string>();
  for (const { userId } of todo) if (!tokens.has(userId)) tokens.set(userId, await mintToken(stack.config.auth.jwtSecret, { sub: userId, role: 'user' }, '6h'));
  const before = counters.snapshot();
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < todo.length) {
        const sub = todo[next++]!;
        const sent = performance.now();
        const response = await fetch(`${baseUrl}${REFUNDS_PATH}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${tokens.get(sub.userId)}`, 'content-type': 'application/json' },
          body: JSON.stringify({ subscriptionId: sub.subscriptionId, reason: 'bench' }),
        });
        const body = (await response.json()) as { refundId?: string };
        latencies.push(performance.now() - sent);
        if (response.status === 202 && body.refundId) ids.push({ refundId: body.refundId, userId: sub.userId, creatorId: sub.creatorId });
        else failures += 1;
      }
    }),
  );
  const elapsed = performance.now() - started;
  const after = counters.snapshot();
  return {
    ids,
    perSecond: (ids.length / elapsed) * 1000,
    latency: percentiles(latencies),
    failures,
    store: (after.store - before.store) / Math.max(todo.length, 1),
    temporal: (after.temporal - before.temporal) / Math.max(todo.length, 1),
  };
}

async function payOut(baseUrl: string, admin: string, stats: RefundStats, refundIds: string[]): Promise<{ ms: number; perSecond: number }> {
  const completedBefore = (await stats.fresh()).countsByStatus().completed;
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < refundIds.length) {
        const refundId = refundIds[next++]!;
        const response = await fetch(`${baseUrl}${REFUNDS_PATH}/${refundId}/approve`, {
          method: 'POST',
          headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
          body: JSON.stringify({ note: 'bench' }),
        });
        if (response.status !== 200) throw new Error(`approve ${refundId} answered ${response.status}: ${await response.text()}`);
      }
    }),
  );
  const deadline = Date.now() + 10 * 60_000;
  while ((await stats.fresh()).countsByStatus().completed < completedBefore + refundIds.length) {
    if (Date.now() > deadline) throw new Error('payouts did not complete within 10 minutes');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const elapsed = performance.now() - started;
  return { ms: elapsed, perSecond: (refundIds.length / elapsed) * 1000 };
}

/** One GET, timed; the number of items it listed. */
async function timedGet(url: string, token: string): Promise<{ ms: number; items: number }> {
  const started = performance.now();
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  const body = (await response.json()) as { items?: unknown[] };
  if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${JSON.stringify(body).slice(0, 200)}`);
  return { ms: performance.now() - started, items: body.items?.length ?? 0 };
}

async function fixedRate(baseUrl: string, token: string, paths: string[], rate: number, durationSeconds: number) {
  const result = await autocannon({
    url: baseUrl,
    connections: 20,
    overallRate: rate,
    duration: durationSeconds,
    workers: 1,
    headers: { authorization: `Bearer ${token}` },
    requests: paths.map((p) => ({ method: 'GET' as const, path: p })),
  });
  const answered = result['1xx'] + result['2xx'] + result['3xx'] + result['4xx'] + result['5xx'];
  return { served: answered / result.duration, p50: result.latency.p50, p99: result.latency.p99, failures: result.non2xx + result.errors, requests: answered };
}

/** The longest event-loop stall and GC pause of this process while it runs: what a p99 outlier may come from besides the store. */
function watchPauses(): { stop(): { loopMaxMs: number; gcMaxMs: number } } {
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  let gcMaxMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcMaxMs = Math.max(gcMaxMs, entry.duration);
  });
  gc.observe({ entryTypes: ['gc'] });
  return {
    stop() {
      loop.disable();
      gc.disconnect();
      return { loopMaxMs: loop.max / 1e6, gcMaxMs };
    },
  };
}

// --- the engine ceiling ----------------------------------------------------

async function engineCeiling(stack: RefundStack, runs: number, searchAttributes = false): Promise<number> {
  return withCeilingWorker(stack, searchAttributes ? 'ceiling-sa' : 'ceiling', async (taskQueue) => {
    const start = async (i: number) => {
      const operation = new WithStartWorkflowOperation('ceilingWorkflow', {
        workflowId: `${taskQueue}-${i}`,
        taskQueue,
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
        args: [{ id: String(i), searchAttributes }],
      });
      await stack.client.workflow.executeUpdateWithStart(registration, { startWorkflowOperation: operation });
    };
    for (let i = 0; i < IN_FLIGHT; i += 1) await start(-1 - i); // warm up: bundle loaded, pollers running
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < runs) await start(next++);
      }),
    );
    return (runs / (performance.now() - started)) * 1000;
  });
}

// --- plumbing ----------------------------------------------------------------

interface RoundTrips {
  snapshot(): { store: number; temporal: number };
}

/** Counts this process's store commands (mongoose's debug hook) and Temporal calls (every gRPC method of the client's service). */
function countRoundTrips(stack: RefundStack): RoundTrips {
  const counts = { store: 0, temporal: 0 };
  stack.mongo.set('debug', () => {
    counts.store += 1;
  });
  // The connection's service is a plain object of methods (its namespace-header wrapper).
  const service = stack.client.connection.workflowService as unknown as Record<string, unknown>;
  for (const name of Object.keys(service)) {
    const original = service[name];
    if (typeof original !== 'function') continue;
    service[name] = (...args: unknown[]) => {
      counts.temporal += 1;
      return (original as (...a: unknown[]) => unknown).apply(service, args);
    };
  }
  return { snapshot: () => ({ ...counts }) };
}

function ms(value: number): string {
  return value >= 100 ? `${value.toFixed(0)} ms` : `${value.toFixed(1)} ms`;
}

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}
