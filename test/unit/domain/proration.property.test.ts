import fc from 'fast-check';
import { calculateProRataRefund, type RefundBreakdown } from '../../../src/domain/proration';
import type { Subscription } from '../../../src/domain/subscription';
import { DAY_MS, MAX_UINT256_LITERAL, SECOND_MS, subscription } from '../../support/fixtures';

/**
 * The money invariants (docs/REFUND_POLICY.md), checked over thousands of
 * generated subscriptions: amounts from 0 to 2^256 − 1, periods from one second
 * to ten years, request and cancellation times before, inside and after the period.
 */

const RUNS = 2500;
const YEAR_MS = 365 * DAY_MS;
const CANONICAL_INTEGER = /^(0|[1-9][0-9]*)$/;

const amountPaid = fc.oneof(
  { weight: 3, arbitrary: fc.bigInt({ min: 0n, max: MAX_UINT256_LITERAL }) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 1_000_000n }) }, // wei-sized and USDC-sized amounts, where flooring bites
  { weight: 1, arbitrary: fc.constantFrom(0n, 1n, 2n, MAX_UINT256_LITERAL - 1n, MAX_UINT256_LITERAL) },
);

const periodStartMs = fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2090, 0, 1) });

const periodLengthMs = fc.oneof(
  fc.integer({ min: SECOND_MS, max: 60 * SECOND_MS }), // seconds
  fc.integer({ min: SECOND_MS, max: 90 * DAY_MS }), // up to a quarter
  fc.integer({ min: SECOND_MS, max: 10 * YEAR_MS }), // up to ten years
  fc.constantFrom(SECOND_MS, 2 * SECOND_MS, 30 * DAY_MS, YEAR_MS),
);

const penaltyBps = fc.oneof(fc.constantFrom(0, 1, 2500, 9999, 10_000), fc.integer({ min: 0, max: 10_000 }));

/** A moment relative to a period: well before, at the start, inside, at the end, well after. */
function momentAround(startMs: number, lengthMs: number): fc.Arbitrary<number> {
  const endMs = startMs + lengthMs;
  return fc.oneof(
    fc.integer({ min: startMs - 2 * YEAR_MS, max: startMs - 1 }),
    fc.constant(startMs),
    fc.integer({ min: startMs, max: endMs }),
    fc.integer({ min: startMs, max: endMs }),
    fc.constant(endMs),
    fc.integer({ min: endMs + 1, max: endMs + 2 * YEAR_MS }),
  );
}

interface Scenario {
  subscription: Subscription;
  requestedAt: Date;
  penaltyBps: number;
}

const scenario: fc.Arbitrary<Scenario> = fc
  .record({ amountPaid, startMs: periodStartMs, lengthMs: periodLengthMs, penaltyBps })
  .chain(({ amountPaid, startMs, lengthMs, penaltyBps }) =>
    fc.record({
      requestedMs: momentAround(startMs, lengthMs),
      cancelledMs: fc.option(momentAround(startMs, lengthMs), { nil: undefined }),
    }).map(({ requestedMs, cancelledMs }) => ({
      subscription: subscription({
        amountPaid,
        startDate: new Date(startMs),
        endDate: new Date(startMs + lengthMs),
        cancelledAt: cancelledMs === undefined ? undefined : new Date(cancelledMs),
      }),
      requestedAt: new Date(requestedMs),
      penaltyBps,
    })),
  );

/** Two ordered moments around the same period, for the monotonicity checks. */
const scenarioWithTwoMoments = fc
  .record({ amountPaid, startMs: periodStartMs, lengthMs: periodLengthMs, penaltyBps })
  .chain(({ amountPaid, startMs, lengthMs, penaltyBps }) =>
    fc.tuple(momentAround(startMs, lengthMs), momentAround(startMs, lengthMs)).map(([a, b]) => ({
      subscription: subscription({ amountPaid, startDate: new Date(startMs), endDate: new Date(startMs + lengthMs) }),
      earlier: new Date(Math.min(a, b)),
      later: new Date(Math.max(a, b)),
      penaltyBps,
    })),
  );

function refundOf({ subscription, requestedAt, penaltyBps }: Scenario) {
  return calculateProRataRefund(subscription, requestedAt, { penaltyBps });
}

/**
 * An auditor's recomputation from the breakdown alone, with its own code:
 * instants are counted in whole seconds (floor of the epoch milliseconds / 1000).
 */
function auditorRecompute(breakdown: RefundBreakdown) {
  const wholeSeconds = (iso: string): bigint => {
    const ms = BigInt(Date.parse(iso));
    return ms >= 0n ? ms / 1000n : -((-ms + 999n) / 1000n);
  };
  const start = wholeSeconds(breakdown.startDate);
  const end = wholeSeconds(breakdown.endDate);
  const effectiveCancelAt = breakdown.cancelledAt ?? breakdown.requestedAt;
  const cancel = wholeSeconds(effectiveCancelAt);
  const totalSeconds = end - start;
  const latestOf = cancel > start ? cancel : start;
  const remainingSeconds = end - latestOf > 0n ? end - latestOf : 0n;
  const paid = BigInt(breakdown.amountPaid);
  const proRataAmount = (paid * remainingSeconds) / totalSeconds;
  const penaltyAmount = (proRataAmount * BigInt(breakdown.penaltyBps)) / 10_000n;
  const amount = proRataAmount - penaltyAmount;
  return { effectiveCancelAt, totalSeconds, remainingSeconds, proRataAmount, penaltyAmount, amount, retained: paid - amount };
}

describe('proration invariants (property-based)', () => {
  test('0 ≤ refund ≤ amountPaid, and the pro-rata amount before the penalty is bounded the same way', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { amount, breakdown } = refundOf(s);
        const proRata = BigInt(breakdown.proRataAmount);
        expect(amount >= 0n).toBe(true);
        expect(amount <= s.subscription.amountPaid).toBe(true);
        expect(proRata >= amount).toBe(true);
        expect(proRata <= s.subscription.amountPaid).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  test('refund + retained = amountPaid, to the unit', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { amount, retained, breakdown } = refundOf(s);
        expect(retained >= 0n).toBe(true);
        expect(amount + retained).toBe(s.subscription.amountPaid);
        expect(BigInt(breakdown.amount) + BigInt(breakdown.retained)).toBe(BigInt(breakdown.amountPaid));
      }),
      { numRuns: RUNS },
    );
  });

  test('a later request never yields a larger refund', () => {
    fc.assert(
      fc.property(scenarioWithTwoMoments, ({ subscription, earlier, later, penaltyBps }) => {
        const early = calculateProRataRefund(subscription, earlier, { penaltyBps }).amount;
        const late = calculateProRataRefund(subscription, later, { penaltyBps }).amount;
        expect(late <= early).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  test('a later recorded cancellation never yields a larger refund, whenever the request comes', () => {
    fc.assert(
      fc.property(scenarioWithTwoMoments, fc.integer({ min: -2 * YEAR_MS, max: 12 * YEAR_MS }), (s, requestOffsetMs) => {
        const requestedAt = new Date(s.subscription.startDate.getTime() + requestOffsetMs);
        const refundIfCancelledAt = (cancelledAt: Date) =>
          calculateProRataRefund({ ...s.subscription, cancelledAt }, requestedAt, { penaltyBps: s.penaltyBps }).amount;
        expect(refundIfCancelledAt(s.later) <= refundIfCancelledAt(s.earlier)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  test('the penalty is never negative and never raises the refund; a larger penalty never refunds more', () => {
    fc.assert(
      fc.property(scenario, fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 10_000 }), (s, bpsA, bpsB) => {
        const [lowBps, highBps] = bpsA <= bpsB ? [bpsA, bpsB] : [bpsB, bpsA];
        const withoutPenalty = calculateProRataRefund(s.subscription, s.requestedAt, { penaltyBps: 0 });
        const low = calculateProRataRefund(s.subscription, s.requestedAt, { penaltyBps: lowBps });
        const high = calculateProRataRefund(s.subscription, s.requestedAt, { penaltyBps: highBps });
        expect(BigInt(low.breakdown.penaltyAmount) >= 0n).toBe(true);
        expect(BigInt(high.breakdown.penaltyAmount) >= 0n).toBe(true);
        expect(withoutPenalty.breakdown.penaltyAmount).toBe('0');
        expect(low.amount <= withoutPenalty.amount).toBe(true);
        expect(high.amount <= low.amount).toBe(true);
        // The penalty never touches the pro-rata amount it is taken from.
        expect(high.breakdown.proRataAmount).toBe(withoutPenalty.breakdown.proRataAmount);
      }),
      { numRuns: RUNS },
    );
  });

  test('an auditor recomputing from the breakdown alone gets the same numbers', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { amount, retained, breakdown } = refundOf(s);
        // The breakdown states the real inputs…
        expect(breakdown.amountPaid).toBe(s.subscription.amountPaid.toString());
        expect(breakdown.startDate).toBe(s.subscription.startDate.toISOString());
        expect(breakdown.endDate).toBe(s.subscription.endDate.toISOString());
        expect(breakdown.requestedAt).toBe(s.requestedAt.toISOString());
        expect(breakdown.cancelledAt).toBe(s.subscription.cancelledAt?.toISOString() ?? null);
        expect(breakdown.penaltyBps).toBe(s.penaltyBps);
        // …and every derived figure follows from them.
        const audit = auditorRecompute(breakdown);
        expect(breakdown.effectiveCancelAt).toBe(audit.effectiveCancelAt);
        expect(BigInt(breakdown.totalSeconds)).toBe(audit.totalSeconds);
        expect(BigInt(breakdown.remainingSeconds)).toBe(audit.remainingSeconds);
        expect(BigInt(breakdown.proRataAmount)).toBe(audit.proRataAmount);
        expect(BigInt(breakdown.penaltyAmount)).toBe(audit.penaltyAmount);
        expect(BigInt(breakdown.amount)).toBe(audit.amount);
        expect(BigInt(breakdown.retained)).toBe(audit.retained);
        expect(amount).toBe(audit.amount);
        expect(retained).toBe(audit.retained);
      }),
      { numRuns: RUNS },
    );
  });

  test('the pro-rata amount is the floor of the exact fraction: q·total ≤ paid·remaining < (q+1)·total', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { breakdown } = refundOf(s);
        const q = BigInt(breakdown.proRataAmount);
        const exactNumerator = BigInt(breakdown.amountPaid) * BigInt(breakdown.remainingSeconds);
        const total = BigInt(breakdown.totalSeconds);
        expect(total > 0n).toBe(true);
        expect(q * total <= exactNumerator).toBe(true);
        expect(exactNumerator < (q + 1n) * total).toBe(true);
        expect(breakdown.remainingSeconds).toBeLessThanOrEqual(breakdown.totalSeconds);
        expect(breakdown.remainingSeconds).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: RUNS },
    );
  });

  test('with whole-second dates the seconds are exactly the differences of the SPEC formula', () => {
    const wholeSecondScenario = fc
      .record({
        amountPaid,
        startS: fc.integer({ min: Date.UTC(2000, 0, 1) / 1000, max: Date.UTC(2090, 0, 1) / 1000 }),
        lengthS: fc.integer({ min: 1, max: 10 * 365 * 86_400 }),
        cancelOffsetS: fc.integer({ min: -2 * 365 * 86_400, max: 12 * 365 * 86_400 }),
      })
      .map(({ amountPaid, startS, lengthS, cancelOffsetS }) => ({ amountPaid, startS, endS: startS + lengthS, cancelS: startS + cancelOffsetS }));
    fc.assert(
      fc.property(wholeSecondScenario, ({ amountPaid, startS, endS, cancelS }) => {
        const sub = subscription({ amountPaid, startDate: new Date(startS * 1000), endDate: new Date(endS * 1000) });
        const { amount, breakdown } = calculateProRataRefund(sub, new Date(cancelS * 1000), { penaltyBps: 0 });
        const remaining = Math.max(0, endS - Math.max(startS, cancelS));
        expect(breakdown.totalSeconds).toBe(endS - startS);
        expect(breakdown.remainingSeconds).toBe(remaining);
        expect(amount).toBe((amountPaid * BigInt(remaining)) / BigInt(endS - startS));
      }),
      { numRuns: RUNS },
    );
  });

  test('a cancellation at or before the start refunds everything; at or after the end, nothing', () => {
    fc.assert(
      fc.property(scenarioWithTwoMoments, ({ subscription }) => {
        const start = subscription.startDate.getTime();
        const end = subscription.endDate.getTime();
        for (const before of [start - YEAR_MS, start - 1000, start]) {
          expect(calculateProRataRefund(subscription, new Date(before), { penaltyBps: 0 }).amount).toBe(subscription.amountPaid);
        }
        for (const after of [end, end + 1, end + YEAR_MS]) {
          expect(calculateProRataRefund(subscription, new Date(after), { penaltyBps: 0 }).amount).toBe(0n);
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('every amount in the breakdown is a canonical integer string and every count a safe integer', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { breakdown } = refundOf(s);
        for (const field of ['amountPaid', 'proRataAmount', 'penaltyAmount', 'amount', 'retained'] as const) {
          expect(breakdown[field]).toMatch(CANONICAL_INTEGER);
          expect(breakdown[field].length).toBeLessThanOrEqual(78);
        }
        for (const field of ['totalSeconds', 'remainingSeconds', 'penaltyBps'] as const) {
          expect(Number.isSafeInteger(breakdown[field])).toBe(true);
        }
        expect(JSON.parse(JSON.stringify(breakdown))).toEqual(breakdown);
      }),
      { numRuns: RUNS },
    );
  });
});
