import { continueAsNew, log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { SweepCounts } from '../activities/sweep';

export interface SweepInput {
  /** Carried across continue-as-new: one sweep, however many runs it takes. */
  sweepId?: string;
  startedAt?: string;
  phase?: 'subscriptions' | 'records';
  cursor?: string | null;
  totals?: SweepCounts;
  pageSize?: number;
  /** Pages per workflow run before continuing as new, which keeps each history small. */
  pagesPerRun?: number;
}

const { sweepSubscriptionsPage, reconcileRefundRecords, recordSweepRun } = proxyActivities<Activities>({
  startToCloseTimeout: '10m',
  heartbeatTimeout: '1m',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 5 },
});

/**
 * The periodic sweep, run by the Temporal Schedule: start the refunds cancelled
 * subscriptions are owed but nobody asked for, then reconcile records that
 * drifted from their workflow, then record what the run did.
 */
export async function refundSweepWorkflow(input: SweepInput = {}): Promise<SweepCounts> {
  const sweepId = input.sweepId ?? workflowInfo().workflowId;
  const startedAt = input.startedAt ?? new Date().toISOString();
  const pageSize = input.pageSize ?? 500;
  const pagesPerRun = input.pagesPerRun ?? 20;
  let phase: SweepInput['phase'] | 'done' = input.phase ?? 'subscriptions';
  let cursor = input.cursor ?? null;
  const totals: SweepCounts = input.totals ?? { found: 0, started: 0, skipped: 0, reconciled: 0, errors: 0, errorSamples: [] };

  try {
    for (let page = 0; page < pagesPerRun && phase !== 'done'; page += 1) {
      const result = phase === 'subscriptions' ? await sweepSubscriptionsPage({ afterId: cursor, limit: pageSize }) : await reconcileRefundRecords({ afterId: cursor, limit: pageSize });
      add(totals, result);
      cursor = result.nextCursor;
      if (cursor === null) phase = phase === 'subscriptions' ? 'records' : 'done';
    }
  } catch (error) {
    log.error('sweep stopped early', { error: (error as Error).message });
    add(totals, { found: 0, started: 0, skipped: 0, reconciled: 0, errors: 1, errorSamples: [`sweep stopped early: ${(error as Error).message}`] });
    phase = 'done';
  }
  if (phase !== 'done') {
    return continueAsNew<typeof refundSweepWorkflow>({ ...input, sweepId, startedAt, phase, cursor, totals });
  }

  const finishedAt = new Date().toISOString();
  await recordSweepRun({ _id: sweepId, startedAt, finishedAt, durationMs: Date.parse(finishedAt) - Date.parse(startedAt), ...totals });
  return totals;
}

function add(totals: SweepCounts, page: SweepCounts): void {
  totals.found += page.found;
  totals.started += page.started;
  totals.skipped += page.skipped;
  totals.reconciled += page.reconciled;
  totals.errors += page.errors;
  totals.errorSamples = [...totals.errorSamples, ...page.errorSamples].slice(0, 10);
}
