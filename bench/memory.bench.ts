import { calculateProRataRefund, type ProRataRefund, type RefundPolicy } from '../src/domain/proration';
import { parseSubscription } from '../src/domain/subscription';
import type { BenchOutcome } from '../src/cli/bench';
import { exposeGc, formatBytes, group, median, settledHeap, times } from './harness';
import { REQUESTED_AT, subscriptionDocs } from './inputs';

/**
 * (b) What a computed refund weighs on the heap: the growth while 10 000
 * breakdowns are held (as a page of refunds in a sweep or a list would), what
 * remains once they are dropped, and the growth after 100 000 computations
 * that were not kept (nothing should accumulate).
 */

export const title = '(b) memory: heap growth per 10 000 computed breakdowns';

const HELD = 10_000;
const CHURNED = 100_000;
const ROUNDS = 5;
const POLICY: RefundPolicy = { penaltyBps: 250 };

export async function run(log: (line: string) => void): Promise<BenchOutcome> {
  const gc = exposeGc();
  const subscriptions = subscriptionDocs(HELD, { seed: 11 }).map((doc) => parseSubscription(doc));
  const jsonBytes = subscriptions.slice(0, 1000).reduce((sum, s) => sum + Buffer.byteLength(JSON.stringify(calculateProRataRefund(s, REQUESTED_AT, POLICY).breakdown)), 0) / 1000;

  const held: number[] = [];
  const leftover: number[] = [];
  const churn: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const before = settledHeap(gc);
    let kept: ProRataRefund[] | undefined = subscriptions.map((subscription) => calculateProRataRefund(subscription, REQUESTED_AT, POLICY));
    held.push(settledHeap(gc) - before);
    if (kept.length !== HELD) throw new Error('unreachable');
    kept = undefined;
    leftover.push(settledHeap(gc) - before);

    const beforeChurn = settledHeap(gc);
    for (let i = 0; i < CHURNED; i++) calculateProRataRefund(subscriptions[i % HELD]!, REQUESTED_AT, POLICY);
    churn.push(settledHeap(gc) - beforeChurn);
  }

  const growth = median(held);
  log(`holding ${group(HELD)} refunds (amount, retained, breakdown): +${formatBytes(growth)} of heap = ${formatBytes(growth / HELD)} each (median of ${ROUNDS} rounds)`);
  log(`  -> ${times(growth / HELD / jsonBytes)} the ${formatBytes(jsonBytes)} of the breakdown as JSON (strings of dates and amounts dominate)`);
  log(`after dropping them: ${signed(median(leftover))} (${formatBytes(Math.abs(median(leftover)) / HELD)} per refund${Math.abs(median(leftover)) < growth / 100 ? ': nothing retained' : ''})`);
  log(`after ${group(CHURNED)} computations not kept: ${signed(median(churn))} (${(Math.abs(median(churn)) / growth * 100).toFixed(2)} % of holding ${group(HELD)})`);
  return { status: 'ran' };
}

function signed(bytes: number): string {
  return `${bytes >= 0 ? '+' : '−'}${formatBytes(Math.abs(bytes))}`;
}
