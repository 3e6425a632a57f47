import { WorkflowIdConflictPolicy } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ethers } from 'ethers';
import { Types } from 'mongoose';
import { createActivities } from '../activities';
import { connectTreasury, type Treasury } from '../src/chain/treasury';
import type { BenchOptions, BenchOutcome } from '../src/cli/bench';
import { startLocalServices, type LocalServices } from '../src/dev/services';
import type { ConfirmationResult, PayoutRequest, PreparedPayoutResult } from '../src/domain/payout';
import { createLogger } from '../src/logger';
import { PayoutLedger, type WalletLease } from '../src/persistence/payout-ledger';
import { RefundStats } from '../src/persistence/refund-events';
import { startRefundStack, type RefundStack } from '../test/support/refund-stack';
import { approval } from './ceiling/workflow';
import { cpuBetween, cpuByProcess, describeCpu, type CpuSeconds } from './cpu-by-process';
import { percentiles, pointTestSupportAt, quietTemporalRuntime, settled, startWorkerProcess, stopProcess, withCeilingWorker, workerPid, workerReady } from './local-stack';

/**
 * (e) Payouts on one treasury wallet, anvil mining every transaction at once,
 * the store and chain settings `npm run dev` uses:
 * 1. the payout engine alone: preparePayout then confirmPayout, the activities
 *    themselves called directly (no Temporal), many at once; how long the
 *    wallet lock is held and how many payouts each hold signs;
 * 2. the product: refunds approved 8 at a time, paid by a worker process,
 *    counted when their records say completed;
 * 3. the Temporal ceiling of that path: a no-I/O workflow of the same shape
 *    from the approval to `completed` (bench/ceiling/workflow.ts), same server.
 * Prints figures, never pass/fail.
 */

export const title = '(e) payouts: the payout engine on one wallet, the product path, and the Temporal ceiling of its shape';

interface Plan {
  engine: number;
  engineInFlight: number;
  product: number;
  ceiling: number;
}

const FULL: Plan = { engine: 300, engineInFlight: 50, product: 120, ceiling: 120 };
const QUICK: Plan = { engine: 100, engineInFlight: 50, product: 40, ceiling: 40 };
const APPROVALS_IN_FLIGHT = 8;
const ETH = { symbol: 'ETH', decimals: 18, tokenAddress: null };

export async function run(log: (line: string) => void, options: BenchOptions = { quick: false }): Promise<BenchOutcome> {
  const plan = options.quick ? QUICK : FULL;
  quietTemporalRuntime();
  let services: LocalServices;
  try {
    services = await startLocalServices({ log: () => undefined });
  } catch (error) {
    return { status: 'skipped', reason: `the local services could not be started: ${(error as Error).message.split('\n')[0]}` };
  }
  const restoreEnv = pointTestSupportAt(services);
  let stack: RefundStack | undefined;
  let treasury: Treasury | undefined;
  let worker: ChildProcess | undefined;
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'prorata-bench-'));
  try {
    log(`machine: ${os.cpus().length} cores, load average ${os.loadavg()[0]!.toFixed(1)} at the start (other processes share the cores); store: FerretDB over ${services.store}`);
    stack = await startRefundStack({ worker: false, env: { LOG_LEVEL: 'error' } });

    // --- 1. the engine alone ---
    treasury = await connectTreasury(stack.config.chain); // the worker's settings, not the tests' faster polling
    const engine = await engineAlone(stack, treasury, plan.engine, plan.engineInFlight);
    log(
      `engine alone (preparePayout + confirmPayout called directly, ${plan.engineInFlight} at once): ${plan.engine} payouts in ${(engine.ms / 1000).toFixed(1)} s: ${engine.perSecond.toFixed(1)} payouts/s; ` +
        `one payout p50 ${engine.latency.p50.toFixed(0)} ms p99 ${engine.latency.p99.toFixed(0)} ms; wallet lock taken ${engine.holds} times (${(plan.engine / Math.max(engine.holds, 1)).toFixed(1)} payouts per hold), held p50 ${engine.hold.p50.toFixed(0)} ms p99 ${engine.hold.p99.toFixed(0)} ms, ${((engine.heldMs / engine.ms) * 100).toFixed(0)} % of the time`,
    );

    // --- 2. the product path ---
    worker = startWorkerProcess(stack, path.join(logDir, 'worker.log'));
    await workerReady(stack);
    const product = await throughTheProduct(stack, plan.product, workerPid(worker));
    log(
      `product (refunds approved ${APPROVALS_IN_FLIGHT} at a time, paid by a worker process, counted when recorded completed): ${plan.product} in ${(product.ms / 1000).toFixed(1)} s: ${product.perSecond.toFixed(1)} payouts/s; approval to completed p50 ${(product.latency.p50 / 1000).toFixed(1)} s p99 ${(product.latency.p99 / 1000).toFixed(1)} s`,
    );
    log(`  CPU, from the approvals until the worker was idle again (its notifications sent): ${describeCpu(product.cpu, plan.product, 'payout')}`);
    await stopProcess(worker);

    // --- 3. the Temporal ceiling of the same shape ---
    const ceiling = await payoutCeiling(stack, plan.ceiling);
    log(`Temporal ceiling of that shape (no-I/O activities, same approvals, same server): ${ceiling.perSecond.toFixed(1)} payouts/s; the product reached ${((product.perSecond / ceiling.perSecond) * 100).toFixed(0)} % of it`);
    log(`  CPU (its worker runs in the bench process): ${describeCpu(ceiling.cpu, plan.ceiling, 'payout')}`);
    const attributesCeiling = await payoutCeiling(stack, plan.ceiling, { searchAttributes: true });
    log(`the same, also setting the RefundStatus search attribute at each of its 3 status changes, as the refund workflow does: ${attributesCeiling.perSecond.toFixed(1)} payouts/s; the product reached ${((product.perSecond / attributesCeiling.perSecond) * 100).toFixed(0)} % of it`);
    log(`  CPU: ${describeCpu(attributesCeiling.cpu, plan.ceiling, 'payout')}`);
    const localCeiling = await payoutCeiling(stack, plan.ceiling, { localRecords: true });
    log(`the same with its record writes as local activities: ${localCeiling.perSecond.toFixed(1)} payouts/s`);
    log(`  CPU: ${describeCpu(localCeiling.cpu, plan.ceiling, 'payout')}`);
    log(`load average now ${os.loadavg()[0]!.toFixed(1)}`);
    return { status: 'ran' };
  } finally {
    await stopProcess(worker);
    treasury?.provider.destroy();
    await stack?.close();
    restoreEnv();
    await services.stop();
    fs.rmSync(logDir, { recursive: true, force: true });
  }
}

/** The timeouts the refund workflow gives payout activities (its default timings); the mock's 1 s makes preparations expire. */
const PAYOUT_ACTIVITY = { startToCloseTimeoutMs: 120_000, heartbeatTimeoutMs: 30_000 };

/** The payout activities with the worker's settings, `count` distinct payouts, `inFlight` at a time. */
async function engineAlone(stack: RefundStack, treasury: Treasury, count: number, inFlight: number) {
  const holds: number[] = [];
  const original = PayoutLedger.prototype.withWalletLock;
  PayoutLedger.prototype.withWalletLock = function <T>(this: PayoutLedger, wallet: string, owner: string, critical: (lease: WalletLease) => Promise<T>, options?: { leaseMs?: number; waitMs?: number }): Promise<T> {
    return original.call(this, wallet, owner, async (lease) => {
      const start = performance.now();
      try {
        return await critical(lease);
      } finally {
        holds.push(performance.now() - start);
      }
    }, options) as Promise<T>;
  };
  try {
    const activities = createActivities({ config: stack.config, connection: stack.mongo, treasury, logger: createLogger('error'), workerId: `${os.hostname()}:bench-engine`, refundClient: stack.refundClient });
    const requests: PayoutRequest[] = Array.from({ length: count }, (_, i) => ({
      refundId: `bench-payout-${i}`,
      subscriptionId: new Types.ObjectId().toHexString(),
      to: ethers.Wallet.createRandom().address,
      amount: (10n ** 15n + BigInt(i)).toString(),
      currency: ETH,
    }));
    const pay = async (request: PayoutRequest) => {
      const prepared = (await new MockActivityEnvironment(PAYOUT_ACTIVITY).run(activities.preparePayout, { ...request, mayWait: true })) as PreparedPayoutResult;
      if (prepared.status === 'limited') throw new Error(prepared.reason);
      if (prepared.status === 'signed') {
        const confirmed = (await new MockActivityEnvironment(PAYOUT_ACTIVITY).run(activities.confirmPayout, { refundId: request.refundId, attemptId: prepared.attemptId })) as ConfirmationResult;
        if (confirmed.status !== 'confirmed') throw new Error(`payout ${request.refundId} ${confirmed.status}`);
      }
    };
    await pay({ ...requests[0]!, refundId: 'bench-payout-warm-up', subscriptionId: new Types.ObjectId().toHexString(), to: ethers.Wallet.createRandom().address });
    holds.length = 0;
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < requests.length) {
          const request = requests[next++]!;
          const sent = performance.now();
          await pay(request);
          latencies.push(performance.now() - sent);
        }
      }),
    );
    const ms = performance.now() - started;
    for (const request of requests) {
      if ((await treasury.provider.getBalance(request.to)) !== BigInt(request.amount)) throw new Error(`${request.to} did not receive exactly ${request.amount}`);
    }
    return { ms, perSecond: (count / ms) * 1000, latency: percentiles(latencies), holds: holds.length, hold: percentiles(holds), heldMs: holds.reduce((sum, hold) => sum + hold, 0) };
  } finally {
    PayoutLedger.prototype.withWalletLock = original;
  }
}

/** Refunds requested and waiting, then approved APPROVALS_IN_FLIGHT at a time; done when the records say completed. */
async function throughTheProduct(stack: RefundStack, count: number, worker: number) {
  const stats = new RefundStats(stack.mongo);
  const refunds: { subscriptionId: string; refundId: string }[] = [];
  const startOne = async () => {
    const subscription = await stack.insertSubscription();
    const started = await stack.refundClient.start({ subscriptionId: subscription.subscriptionId, requestedBy: String(subscription.doc.userId) });
    if (started.kind !== 'started') throw new Error(`refund not started: ${started.kind}`);
    return { subscriptionId: subscription.subscriptionId, refundId: started.refundId };
  };
  await pay([await startOne()]); // warm-up: the worker bundles its workflows and starts polling
  for (let i = 0; i < count; i += 1) refunds.push(await startOne());
  const before = (await stats.fresh()).countsByStatus().completed;
  await settled(worker); // the registrations' notifications are not the payouts' cost
  const cpuBefore = cpuByProcess(worker);
  const started = performance.now();
  await pay(refunds);
  const ms = performance.now() - started;
  await settled(worker);
  const cpu = cpuBetween(cpuBefore, cpuByProcess(worker));

  const latencies: number[] = [];
  for (const { refundId } of refunds) {
    const record = await stack.refunds.findById(refundId);
    const approvedAt = record?.statusHistory.find((change) => change.status === 'approved')?.at;
    if (record?.completedAt && approvedAt) latencies.push(Date.parse(record.completedAt) - Date.parse(approvedAt));
  }
  return { ms, perSecond: (count / ms) * 1000, latency: percentiles(latencies), cpu };

  async function pay(batch: { subscriptionId: string; refundId: string }[]) {
    const goal = (await stats.fresh()).countsByStatus().completed + batch.length;
    let next = 0;
    await Promise.all(
      Array.from({ length: APPROVALS_IN_FLIGHT }, async () => {
        while (next < batch.length) await stack.refundClient.approve(batch[next++]!, { by: 'bench-admin' });
      }),
    );
    const deadline = Date.now() + 10 * 60_000;
    while ((await stats.fresh()).countsByStatus().completed < goal) {
      if (Date.now() > deadline) throw new Error(`payouts did not complete within 10 minutes (${before} completed before)`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function payoutCeiling(stack: RefundStack, count: number, variant: { localRecords?: boolean; searchAttributes?: boolean } = {}): Promise<{ perSecond: number; cpu: CpuSeconds }> {
  const { localRecords = false, searchAttributes = false } = variant;
  return withCeilingWorker(stack, `payout-ceiling${localRecords ? '-local' : ''}${searchAttributes ? '-sa' : ''}`, async (taskQueue) => {
    const startAll = (ids: string[]) =>
      Promise.all(ids.map((id) => stack.client.workflow.start('payoutCeilingWorkflow', { taskQueue, workflowId: `${taskQueue}-${id}`, workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL, args: [{ id, localRecords, searchAttributes }] })));
    const payAll = async (ids: string[]) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: APPROVALS_IN_FLIGHT }, async () => {
          while (next < ids.length) await stack.client.workflow.getHandle(`${taskQueue}-${ids[next++]!}`).executeUpdate(approval);
        }),
      );
      await Promise.all(ids.map((id) => stack.client.workflow.getHandle(`${taskQueue}-${id}`).result()));
    };
    const warmUp = Array.from({ length: APPROVALS_IN_FLIGHT }, (_, i) => `warm-${i}`);
    await startAll(warmUp);
    await payAll(warmUp);
    const ids = Array.from({ length: count }, (_, i) => String(i));
    await startAll(ids);
    const cpuBefore = cpuByProcess();
    const started = performance.now();
    await payAll(ids);
    return { perSecond: (count / (performance.now() - started)) * 1000, cpu: cpuBetween(cpuBefore, cpuByProcess()) };
  });
}
