import fc from 'fast-check';
import { checkRefundEligibility, type ExistingRefund } from '../../../src/domain/eligibility';
import { assessRefund, prepareRefundOf } from '../../../src/domain/prepared-refund';
import { REFUND_STATUSES } from '../../../src/domain/refund-status';
import { at, DAY_MS, ONE_ETH, SECOND_MS, subscription } from '../../support/fixtures';

/**
 * assessRefund computes a refund's amount once and judges eligibility on it:
 * what previews show, requests are refused with, and the workflow records. It
 * must say exactly what the two separate rules say.
 */
describe('assessRefund', () => {
  test('eligible: no reasons, and the amount the refund pays', () => {
    const sub = subscription();
    const requestedAt = at('2024-01-16T00:00:00.000Z');
    expect(assessRefund(sub, null, requestedAt, { penaltyBps: 0 })).toEqual({
      eligible: true,
      reasons: [],
      preparation: expect.objectContaining({ amount: (ONE_ETH / 2n).toString(), amountFormatted: '0.5', subject: expect.objectContaining({ userId: 'user-1', userEmail: null }) }),
    });
  });

  test('ineligible: the reasons, and still the amount (a preview shows both)', () => {
    const sub = subscription({ refundEligible: false });
    const assessment = assessRefund(sub, { refundId: 'rf_1', refundStatus: 'completed' }, at('2024-01-16T00:00:00.000Z'), { penaltyBps: 0 });
    expect(assessment.reasons).toEqual(['NOT_REFUND_ELIGIBLE', 'REFUND_EXISTS']);
    expect(assessment.eligible).toBe(false);
    expect(assessment.preparation.amount).toBe((ONE_ETH / 2n).toString());
  });

  test('says what checkRefundEligibility and prepareRefundOf say, for any subscription, moment, penalty and existing refund', () => {
    const startMs = Date.UTC(2024, 0, 1);
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 30n }),
        fc.integer({ min: SECOND_MS, max: 400 * DAY_MS }),
        fc.integer({ min: -10 * DAY_MS, max: 420 * DAY_MS }),
        fc.option(fc.integer({ min: -10 * DAY_MS, max: 420 * DAY_MS }), { nil: undefined }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 60 }),
        fc.boolean(),
        fc.boolean(),
        fc.option(fc.constantFrom(...REFUND_STATUSES), { nil: null }),
        (amountPaid, lengthMs, requestOffsetMs, cancelOffsetMs, penaltyBps, refundWindowDays, refundEligible, isRefundApplied, existingStatus) => {
          const sub = subscription({
            amountPaid,
            startDate: new Date(startMs),
            endDate: new Date(startMs + lengthMs),
            cancelledAt: cancelOffsetMs === undefined ? undefined : new Date(startMs + cancelOffsetMs),
            refundWindowDays,
            refundEligible,
            isRefundApplied,
          });
          const requestedAt = new Date(startMs + requestOffsetMs);
          const existing: ExistingRefund | null = existingStatus ? { refundId: 'rf_1', refundStatus: existingStatus } : null;
          const policy = { penaltyBps };
          const { preparation, ...eligibility } = assessRefund(sub, existing, requestedAt, policy);
          expect(eligibility).toEqual(checkRefundEligibility(sub, existing, requestedAt, policy));
          expect(preparation).toEqual(prepareRefundOf(sub, requestedAt, policy, requestedAt));
        },
      ),
      { numRuns: 500 },
    );
  });
});
