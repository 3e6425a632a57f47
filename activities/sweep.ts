import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { Types, type Connection } from 'mongoose';
import { checkRefundEligibility } from '../src/domain/eligibility';
import type { Refund } from '../src/domain/refund';
import { parseSubscription } from '../src/domain/subscription';
import type { Logger } from '../src/logger';
import { refundModel } from '../src/persistence/refund-model';
import { toView, type RefundRepository } from '../src/persistence/refund-repository';
import { registeredRefund } from '../workflows/refund-messages';
import { subscriptionModel } from '../src/persistence/subscription-model';
import { sweepRunModel, type SweepCounts, type SweepRunRecord } from '../src/sweep/sweep-runs';

export type { SweepCounts };
import type { RefundWorkflowClient } from '../src/temporal/refund-client';
import { RefundStatusKey } from '../src/temporal/search-attributes';

export interface SweepPage extends SweepCounts {
  nextCursor: string | null;
}

const PARALLEL_STARTS = 8;
const LIVE_STATUSES = ['pending_approval', 'approved', 'processing', 'failed'] as const;
const MAX_ERROR_SAMPLES = 10;

interface SweepDeps {
  connection: Connection;
  refunds: RefundRepository;
  refundClient: RefundWorkflowClient;
  penaltyBps: number;
  logger: Logger;
}

/**
 * The periodic sweep's side effects, one page at a time so the sweep workflow
 * can continue-as-new through any number of subscriptions.
 */
export function createSweepActivities({ connection, refunds, refundClient, penaltyBps, logger }: SweepDeps) {
  const subscriptions = subscriptionModel(connection);
  const records = refundModel(connection);
  const log = logger.child({ component: 'Scheduler' });

  /**
   * Starts a refund for every cancelled, still refundable subscription of the
   * page that has never had one. A refund an admin rejected or a user withdrew
   * is not asked for again by the sweep (the user may still ask through the API).
   * The workflow id is per subscription, so a refund that already runs is never
   * doubled, whoever else starts one at the same time.
   */
  async function sweepSubscriptionsPage(input: { afterId: string | null; limit: number }): Promise<SweepPage> {
    const now = new Date();
    // The same rules as a request through the API: a missing refundEligible means eligible, and the window
    // and the period are judged at the cancellation (checkRefundEligibility), not at the time of the sweep.
    const filter: Record<string, unknown> = { status: 'cancelled', refundEligible: { $ne: false }, isRefundApplied: { $ne: true } };
    if (input.afterId) filter._id = { $gt: new Types.ObjectId(input.afterId) };
    const page = await subscriptions.find(filter).sort({ _id: 1 }).limit(input.limit).lean();
    const counts = emptyCounts();
    counts.found = page.length;

    await inBatches(page, PARALLEL_STARTS, async (doc) => {
      const subscriptionId = doc._id.toHexString();
      try {
        const subscription = parseSubscription(doc);
        const hadRefund = (await records.exists({ subscriptionId })) !== null;
        if (hadRefund || !checkRefundEligibility(subscription, null, now, { penaltyBps }).eligible) {
          counts.skipped += 1;
          return;
        }
        const started = await refundClient.startInBackground({ subscriptionId, requestedBy: 'sweep', reason: 'subscription cancelled', requestedAt: now, subscription });
        if (started.kind === 'started') {
          counts.started += 1;
          log.info({ subscriptionId, refundId: started.refundId }, 'sweep started a refund');
        } else {
          counts.skipped += 1;
        }
      } catch (error) {
        countError(counts, `${subscriptionId}: ${(error as Error).message}`);
      }
      Context.current().heartbeat();
    });
    const last = page[page.length - 1];
    return { ...counts, nextCursor: page.length === input.limit && last ? last._id.toHexString() : null };
  }

  /**
   * Brings live records back in line with their workflow: missed status changes
   * are replayed from the workflow's state, and a pending refund whose workflow
   * was terminated or lost is marked cancelled. Records in a money state whose
   * workflow is gone are counted as errors for a human: never changed blindly.
   */
  async function reconcileRefundRecords(input: { afterId: string | null; limit: number }): Promise<SweepPage> {
    // One equality read per live status rather than an `$in`: the local store serves equality from an
    // index and reads the whole collection for `$in`; on MongoDB each is an index range.
    const perStatus = await Promise.all(
      LIVE_STATUSES.map((refundStatus) => {
        const filter: Record<string, unknown> = { refundStatus };
        if (input.afterId) filter._id = { $gt: input.afterId };
        // Whole records: the local store reads them whole for a projection anyway, and reconcile needs them.
        return records.find(filter).sort({ _id: 1 }).limit(input.limit).lean();
      }),
    );
    const page = perStatus
      .flat()
      .sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0))
      .slice(0, input.limit);
    const counts = emptyCounts();
    await inBatches(page, PARALLEL_STARTS, async (record) => {
      try {
        if (await reconcile(toView(record), { subscriptionId: record.subscriptionId, runId: record.runId })) counts.reconciled += 1;
      } catch (error) {
        countError(counts, `${record._id}: ${(error as Error).message}`);
      }
      Context.current().heartbeat();
    });
    const last = page[page.length - 1];
    return { ...counts, nextCursor: page.length === input.limit && last ? last._id : null };
  }

  /**
   * Looks at the subscription's workflow as it is now (its latest run, so a
   * reset run counts), and only touches the record if that run is this refund.
   */
  async function reconcile(record: Refund, ref: { subscriptionId: string; runId: string | null }): Promise<boolean> {
    const { refundId } = record;
    let status: string;
    let runsThisRefund = false;
    let statusShown: string | undefined;
    try {
      const description = await refundClient.handle(ref.subscriptionId).describe();
      status = description.status.name;
      runsThisRefund = description.memo?.refundId === refundId;
      statusShown = description.typedSearchAttributes.get(RefundStatusKey);
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
      status = 'NOT_FOUND';
    }
    // Most live refunds wait for a decision. Pending is where every refund starts, so a record and a running
    // workflow that both say pending have nothing to catch up; asking the workflow would replay it on a worker.
    if (runsThisRefund && status === 'RUNNING' && record.refundStatus === 'pending_approval' && statusShown === 'pending_approval') return false;
    if (runsThisRefund && (status === 'RUNNING' || status === 'COMPLETED')) {
      const live = registeredRefund(await refundClient.state({ subscriptionId: ref.subscriptionId }));
      return live?.refundId === refundId ? catchUp(record, live) : false;
    }
    if (runsThisRefund && status === 'CONTINUED_AS_NEW') return false;
    if (record.refundStatus !== 'pending_approval') {
      throw new Error(`refund is ${record.refundStatus} but its workflow is ${runsThisRefund ? status : 'gone'}: needs a human (see docs/RUNBOOK.md)`);
    }
    await refunds.transition(refundId, { status: 'cancelled', at: new Date().toISOString(), by: 'system', note: `workflow ${runsThisRefund ? status.toLowerCase() : 'gone'}` });
    log.warn({ refundId, workflowStatus: status }, 'pending refund without a live workflow marked cancelled');
    return true;
  }

  /** Applies the workflow's status changes the record has not seen yet. */
  async function catchUp(record: Refund, live: Refund): Promise<boolean> {
    const missing = live.statusHistory.slice(record.statusHistory.length);
    for (const change of missing) {
      await refunds.transition(record.refundId, change, {
        decidedBy: live.decidedBy,
        decidedAt: live.decidedAt ? new Date(live.decidedAt) : null,
        decisionNote: live.decisionNote,
        transactionId: live.transactionId,
        payout: live.payout,
        completedAt: live.completedAt ? new Date(live.completedAt) : null,
        failureReason: live.failureReason,
        failureCode: live.failureCode,
        retryable: live.retryable,
        waitingReason: live.waitingReason,
        processingTimeMs: live.processingTimeMs,
      });
    }
    if (missing.length > 0) log.warn({ refundId: record.refundId, applied: missing.map((change) => change.status) }, 'refund record reconciled with its workflow');
    return missing.length > 0;
  }

  async function recordSweepRun(run: Omit<SweepRunRecord, 'startedAt' | 'finishedAt'> & { startedAt: string; finishedAt: string }): Promise<void> {
    await sweepRunModel(connection).updateOne(
      { _id: run._id },
      { $set: { ...run, startedAt: new Date(run.startedAt), finishedAt: new Date(run.finishedAt) } },
      { upsert: true },
    );
    log.info({ ...run, errorSamples: run.errorSamples.slice(0, 3) }, 'sweep finished');
  }

  return { sweepSubscriptionsPage, reconcileRefundRecords, recordSweepRun };
}

function emptyCounts(): SweepCounts {
  return { found: 0, started: 0, skipped: 0, reconciled: 0, errors: 0, errorSamples: [] };
}

function countError(counts: SweepCounts, message: string): void {
  counts.errors += 1;
  if (counts.errorSamples.length < MAX_ERROR_SAMPLES) counts.errorSamples.push(message);
}

async function inBatches<T>(items: T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(work));
}
