import { calculateProRataRefund, type RefundPolicy } from '../src/domain/proration';
import { parseSubscription, type Subscription } from '../src/domain/subscription';
import type { BenchOutcome } from '../src/cli/bench';
import { compareLoops, consume, group, micros, times } from './harness';
import { MIX, REQUESTED_AT, subscriptionDocs } from './inputs';

/**
 * (a) What computing a refund costs, against two yardsticks measured in the
 * same run: the loop that only parses the subscription documents (what every
 * read of a subscription pays anyway), and a budget of 100 000 refunds a
 * second (a sweep over a large book must never be CPU-bound on the arithmetic).
 */

export const title = '(a) pro-rata computation: calculateProRataRefund (src/domain/proration.ts)';

const COUNT = 100_000;
const BUDGET_MS = 1_000; // for COUNT refunds
const API_TARGET_MS = 500;
const POLICY: RefundPolicy = { penaltyBps: 250 };

export async function run(log: (line: string) => void): Promise<BenchOutcome> {
  const docs = subscriptionDocs(COUNT);
  const parsed: Subscription[] = docs.map((doc) => parseSubscription(doc));
  log(`${group(COUNT)} subscription documents: ${share('eth')} ETH, ${share('usdc')} USDC, ${share('near2^256')} amounts within 1e9 of 2^256; 30/90/365-day periods, half cancelled; penalty ${POLICY.penaltyBps} bps`);

  const medians = compareLoops({
    parseOnly() {
      for (const doc of docs) consume(parseSubscription(doc).amountPaid);
    },
    parseAndCompute() {
      for (const doc of docs) consume(calculateProRataRefund(parseSubscription(doc), REQUESTED_AT, POLICY).amount);
    },
    computeOnly() {
      for (const subscription of parsed) consume(calculateProRataRefund(subscription, REQUESTED_AT, POLICY).amount);
    },
  });
  const computeCost = medians.parseAndCompute - medians.parseOnly;
  log(`parse only (baseline)             ${ms(medians.parseOnly)} per ${group(COUNT)}  ${opsPerSecond(medians.parseOnly)}`);
  log(`parse + calculateProRataRefund    ${ms(medians.parseAndCompute)} per ${group(COUNT)}  ${opsPerSecond(medians.parseAndCompute)}`);
  log(`  -> the computation adds ${plainMs(computeCost)} (${micros(computeCost / COUNT)} per refund): parse + compute = ${times(medians.parseAndCompute / medians.parseOnly)} the parse-only loop`);
  log(`calculateProRataRefund alone      ${ms(medians.computeOnly)} per ${group(COUNT)}  ${opsPerSecond(medians.computeOnly)}`);
  log(`  -> computing ${group(COUNT)} refunds takes ${plainMs(medians.computeOnly)} = ${times(BUDGET_MS / medians.computeOnly)} under the ${BUDGET_MS / 1000} s budget`);
  log(`  -> one refund (${micros(medians.computeOnly / COUNT)}) is ${((medians.computeOnly / COUNT / API_TARGET_MS) * 100).toPrecision(2)} % of the ${API_TARGET_MS} ms API response target`);

  // Same loop over single-kind inputs: does the size of the integer matter?
  const bySize = {
    eth: subscriptionDocs(20_000, { seed: 7, mix: { eth: 1, usdc: 0, 'near2^256': 0 } }).map((doc) => parseSubscription(doc)),
    usdc: subscriptionDocs(20_000, { seed: 7, mix: { eth: 0, usdc: 1, 'near2^256': 0 } }).map((doc) => parseSubscription(doc)),
    near2p256: subscriptionDocs(20_000, { seed: 7, mix: { eth: 0, usdc: 0, 'near2^256': 1 } }).map((doc) => parseSubscription(doc)),
  };
  const loopOver = (subscriptions: Subscription[]) => () => {
    for (const subscription of subscriptions) consume(calculateProRataRefund(subscription, REQUESTED_AT, POLICY).amount);
  };
  const sizes = compareLoops({ eth: loopOver(bySize.eth), usdc: loopOver(bySize.usdc), near2p256: loopOver(bySize.near2p256) }, { rounds: 9 });
  const perRefund = (key: keyof typeof sizes) => sizes[key] / 20_000;
  log(
    `by amount size (20 000 each): USDC ~1e8 ${micros(perRefund('usdc'))}, ETH ~1e18 ${micros(perRefund('eth'))}, near 2^256 ~1e77 ${micros(perRefund('near2p256'))} per refund`,
  );
  log(`  -> a 78-digit amount costs ${times(sizes.near2p256 / sizes.eth)} an 18-digit one, ${times(sizes.near2p256 / sizes.usdc)} a 9-digit one`);
  return { status: 'ran' };
}

function share(kind: keyof typeof MIX): string {
  return `${Math.round(MIX[kind] * 100)} %`;
}

function ms(value: number): string {
  return `${value.toFixed(1).padStart(7)} ms`;
}

function plainMs(value: number): string {
  return `${value.toFixed(1)} ms`;
}

function opsPerSecond(msPerCount: number): string {
  return `${group((COUNT / msPerCount) * 1000).padStart(11)} ops/s`;
}
