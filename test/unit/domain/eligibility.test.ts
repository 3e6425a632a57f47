import fc from 'fast-check';
import { checkRefundEligibility, INELIGIBILITY_REASONS, refundWindowClosesAt, type ExistingRefund } from '../../../src/domain/eligibility';
import { REFUND_STATUSES, type RefundStatus } from '../../../src/domain/refund-status';
import type { Subscription } from '../../../src/domain/subscription';
import { at, DAY_MS, MAX_UINT256_LITERAL, ONE_ETH, subscription } from '../../support/fixtures';

/** The stable order in which reasons are reported, written out so a reordering is caught. */
const REASON_ORDER = ['NOT_REFUND_ELIGIBLE', 'REFUND_ALREADY_APPLIED', 'REFUND_WINDOW_EXPIRED', 'PERIOD_ENDED', 'NOTHING_TO_REFUND', 'REFUND_EXISTS'];

/** SPEC: "no other live or completed refund exists". Rejected and cancelled refunds are over and paid nothing. */
const BLOCKING: RefundStatus[] = ['pending_approval', 'approved', 'processing', 'failed', 'completed'];
const NOT_BLOCKING: RefundStatus[] = ['rejected', 'cancelled'];

// A one-year period (2024 is a leap year: 366 days = 31 622 400 s) with a 30-day refund window,
// which closes at 2024-01-01 + 30 days = 2024-01-31T00:00:00.000Z.
const YEAR_2024 = { startDate: at('2024-01-01T00:00:00.000Z'), endDate: at('2025-01-01T00:00:00.000Z'), refundWindowDays: 30 };
const yearly = (overrides: Partial<Subscription> = {}): Subscription => subscription({ ...YEAR_2024, ...overrides });
const MID_WINDOW = at('2024-01-15T00:00:00.000Z');
const existing = (refundStatus: RefundStatus): ExistingRefund => ({ refundId: 'refund-1', refundStatus });

describe('checkRefundEligibility', () => {
  test('finds a fresh subscription inside its window eligible, with no reasons', () => {
    expect(checkRefundEligibility(yearly(), null, MID_WINDOW)).toEqual({ eligible: true, reasons: [] });
  });

  test('reports its reasons in the documented order', () => {
    expect(Object.keys(INELIGIBILITY_REASONS)).toEqual(REASON_ORDER);
  });

  describe('each rule on its own', () => {
    test.each<[string, Subscription, ExistingRefund | null, Date, number]>([
      // reason, subscription, existing refund, now, penaltyBps
      ['NOT_REFUND_ELIGIBLE', yearly({ refundEligible: false }), null, MID_WINDOW, 0],
      ['REFUND_ALREADY_APPLIED', yearly({ isRefundApplied: true }), null, MID_WINDOW, 0],
      // 1 ms after the window closed, long before the period ends
      ['REFUND_WINDOW_EXPIRED', yearly(), null, at('2024-01-31T00:00:00.001Z'), 0],
      // 1 wei × (31 622 400 − 1) / 31 622 400 = 0.99999… → 0
      ['NOTHING_TO_REFUND', yearly({ amountPaid: 1n }), null, at('2024-01-01T00:00:01.000Z'), 0],
      ['REFUND_EXISTS', yearly(), existing('pending_approval'), MID_WINDOW, 0],
    ])('%s is reported alone when only its rule fails', (reason, sub, existingRefund, now, penaltyBps) => {
      expect(checkRefundEligibility(sub, existingRefund, now, { penaltyBps })).toEqual({ eligible: false, reasons: [reason] });
    });

    test('NOTHING_TO_REFUND covers a free subscription', () => {
      expect(checkRefundEligibility(yearly({ amountPaid: 0n }), null, MID_WINDOW).reasons).toEqual(['NOTHING_TO_REFUND']);
    });

    test('NOTHING_TO_REFUND covers a penalty that takes the whole refund', () => {
      expect(checkRefundEligibility(yearly(), null, MID_WINDOW, { penaltyBps: 10_000 }).reasons).toEqual(['NOTHING_TO_REFUND']);
      expect(checkRefundEligibility(yearly(), null, MID_WINDOW, { penaltyBps: 9_999 })).toEqual({ eligible: true, reasons: [] });
    });

    test('NOTHING_TO_REFUND uses the recorded cancellation, not the request time', () => {
      // Cancelled at the very end of the period: nothing unused, though the request is early (and the window and period are judged then too).
      const cancelledAtEnd = yearly({ cancelledAt: at('2025-01-01T00:00:00.000Z') });
      expect(checkRefundEligibility(cancelledAtEnd, null, MID_WINDOW).reasons).toEqual(['REFUND_WINDOW_EXPIRED', 'PERIOD_ENDED', 'NOTHING_TO_REFUND']);
    });

    test('applies no penalty unless a policy says so', () => {
      // 2 wei requested half-way (183 of 366 days left): floor(2 × 183 / 366) = 1 wei, which a full penalty would take.
      const twoWei = yearly({ amountPaid: 2n, refundWindowDays: 400 });
      const halfWay = at('2024-07-02T00:00:00.000Z');
      expect(checkRefundEligibility(twoWei, null, halfWay)).toEqual({ eligible: true, reasons: [] });
      expect(checkRefundEligibility(twoWei, null, halfWay, { penaltyBps: 10_000 }).reasons).toEqual(['NOTHING_TO_REFUND']);
    });
  });

  describe('several failing rules', () => {
    test('are all reported, in the stable order', () => {
      const everythingWrong = yearly({ refundEligible: false, isRefundApplied: true });
      const afterTheEnd = at('2025-02-01T00:00:00.000Z'); // past the window and the period; nothing left to refund
      expect(checkRefundEligibility(everythingWrong, existing('completed'), afterTheEnd)).toEqual({ eligible: false, reasons: REASON_ORDER });
    });

    test.each<[string, Partial<Subscription>, ExistingRefund | null, string, string[]]>([
      ['a flagged subscription with a live refund', { refundEligible: false }, existing('processing'), '2024-01-15T00:00:00.000Z', ['NOT_REFUND_ELIGIBLE', 'REFUND_EXISTS']],
      ['an applied refund outside the window', { isRefundApplied: true }, null, '2024-02-15T00:00:00.000Z', ['REFUND_ALREADY_APPLIED', 'REFUND_WINDOW_EXPIRED']],
      // at the end, without cancelledAt: the window of 400 days is open, the period ended, and nothing is left
      ['a request at the end of the period', { refundWindowDays: 400 }, null, '2025-01-01T00:00:00.000Z', ['PERIOD_ENDED', 'NOTHING_TO_REFUND']],
      ['a request after the end, with the window shut and a failed payout', {}, existing('failed'), '2025-06-01T00:00:00.000Z', ['REFUND_WINDOW_EXPIRED', 'PERIOD_ENDED', 'NOTHING_TO_REFUND', 'REFUND_EXISTS']],
    ])('%s', (_label, overrides, existingRefund, now, reasons) => {
      expect(checkRefundEligibility(yearly(overrides), existingRefund, at(now))).toEqual({ eligible: false, reasons });
    });
  });

  describe('the refund window (inclusive of its last instant)', () => {
    test('closes refundWindowDays after the start of the period', () => {
      expect(refundWindowClosesAt(yearly())).toEqual(at('2024-01-31T00:00:00.000Z'));
      expect(refundWindowClosesAt(yearly({ refundWindowDays: 0 }))).toEqual(at('2024-01-01T00:00:00.000Z'));
      expect(refundWindowClosesAt(yearly({ refundWindowDays: 0.5 }))).toEqual(at('2024-01-01T12:00:00.000Z'));
    });

    test.each<[string, number, string, boolean]>([
      // label, refundWindowDays, now, still open
      ['before the period starts', 30, '2023-12-01T00:00:00.000Z', true],
      ['at the start', 30, '2024-01-01T00:00:00.000Z', true],
      ['exactly at start + 30 days', 30, '2024-01-31T00:00:00.000Z', true],
      ['1 ms after start + 30 days', 30, '2024-01-31T00:00:00.001Z', false],
      ['a 0-day window, at the start', 0, '2024-01-01T00:00:00.000Z', true],
      ['a 0-day window, 1 ms after the start', 0, '2024-01-01T00:00:00.001Z', false],
      ['a half-day window, 12 h after the start', 0.5, '2024-01-01T12:00:00.000Z', true],
      ['a half-day window, 12 h and 1 ms after the start', 0.5, '2024-01-01T12:00:00.001Z', false],
    ])('%s: open = %p', (_label, refundWindowDays, now, open) => {
      const result = checkRefundEligibility(yearly({ refundWindowDays }), null, at(now));
      expect(result.reasons).toEqual(open ? [] : ['REFUND_WINDOW_EXPIRED']);
      expect(result.eligible).toBe(open);
    });
  });

  describe('judged at the cancellation, so a late request or a late sweep never drops an owed refund', () => {
    test('cancelled inside the window, asked after it closed: still eligible, for the time unused at cancellation', () => {
      const cancelledInWindow = yearly({ cancelledAt: at('2024-01-20T00:00:00.000Z') });
      expect(checkRefundEligibility(cancelledInWindow, null, at('2024-03-01T00:00:00.000Z'))).toEqual({ eligible: true, reasons: [] });
    });

    test('cancelled mid-year, asked after the period ended: still eligible', () => {
      const cancelledMidYear = yearly({ refundWindowDays: 400, cancelledAt: at('2024-07-01T00:00:00.000Z') });
      expect(checkRefundEligibility(cancelledMidYear, null, at('2025-02-01T00:00:00.000Z'))).toEqual({ eligible: true, reasons: [] });
    });

    test('cancelled after the window closed: expired, however early it is asked', () => {
      const cancelledLate = yearly({ cancelledAt: at('2024-02-15T00:00:00.000Z') });
      expect(checkRefundEligibility(cancelledLate, null, at('2024-01-10T00:00:00.000Z')).reasons).toEqual(['REFUND_WINDOW_EXPIRED']);
    });

    test('cancelled at the end of the period: the period had ended, nothing is left', () => {
      const cancelledAtEnd = yearly({ refundWindowDays: 400, cancelledAt: at('2025-01-01T00:00:00.000Z') });
      expect(checkRefundEligibility(cancelledAtEnd, null, MID_WINDOW).reasons).toEqual(['PERIOD_ENDED', 'NOTHING_TO_REFUND']);
    });
  });

  describe('the end of the period', () => {
    const wideWindow = { refundWindowDays: 400 };

    test.each<[string, string, string[]]>([
      // 10^18 × 1 / 31 622 400 = 31 623 153 887 (floored) > 0
      ['one second before the end there is still a second to refund', '2024-12-31T23:59:59.000Z', []],
      ['1 ms before the end the last second still counts', '2024-12-31T23:59:59.999Z', []],
      ['exactly at the end the period has ended', '2025-01-01T00:00:00.000Z', ['PERIOD_ENDED', 'NOTHING_TO_REFUND']],
      ['after the end the period has ended', '2025-02-01T00:00:00.000Z', ['PERIOD_ENDED', 'NOTHING_TO_REFUND']],
    ])('%s', (_label, now, reasons) => {
      expect(checkRefundEligibility(yearly(wideWindow), null, at(now)).reasons).toEqual(reasons);
    });
  });

  describe('an existing refund for the subscription', () => {
    test('does not block when there is none', () => {
      expect(checkRefundEligibility(yearly(), null, MID_WINDOW).eligible).toBe(true);
    });

    test.each(NOT_BLOCKING)('does not block when it was %s', (status) => {
      expect(checkRefundEligibility(yearly(), existing(status), MID_WINDOW)).toEqual({ eligible: true, reasons: [] });
    });

    test.each(BLOCKING)('blocks with REFUND_EXISTS when it is %s', (status) => {
      expect(checkRefundEligibility(yearly(), existing(status), MID_WINDOW)).toEqual({ eligible: false, reasons: ['REFUND_EXISTS'] });
    });

    test('every status is classified as blocking or not', () => {
      expect([...BLOCKING, ...NOT_BLOCKING].sort()).toEqual([...REFUND_STATUSES].sort());
    });
  });

  test('handles amounts at the top of uint256', () => {
    expect(checkRefundEligibility(yearly({ amountPaid: MAX_UINT256_LITERAL }), null, MID_WINDOW).eligible).toBe(true);
  });
});

describe('checkRefundEligibility (property-based)', () => {
  const YEAR_MS = 365 * DAY_MS;

  const scenario = fc
    .record({
      amountPaid: fc.oneof(fc.bigInt({ min: 0n, max: MAX_UINT256_LITERAL }), fc.bigInt({ min: 0n, max: 1000n }), fc.constant(ONE_ETH)),
      startMs: fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2090, 0, 1) }),
      lengthMs: fc.oneof(fc.integer({ min: 1000, max: 120_000 }), fc.integer({ min: 1000, max: 3 * YEAR_MS })),
      refundWindowDays: fc.integer({ min: 0, max: 800 }).map((halfDays) => halfDays / 2),
      refundEligible: fc.boolean(),
      isRefundApplied: fc.boolean(),
      existingStatus: fc.option(fc.constantFrom(...REFUND_STATUSES), { nil: null }),
      penaltyBps: fc.oneof(fc.constantFrom(0, 10_000), fc.integer({ min: 0, max: 10_000 })),
    })
    .chain((base) =>
      fc
        .record({
          nowOffsetMs: fc.oneof(fc.integer({ min: -YEAR_MS, max: base.lengthMs + YEAR_MS }), fc.constantFrom(0, base.lengthMs, base.refundWindowDays * DAY_MS)),
          cancelOffsetMs: fc.option(fc.integer({ min: -YEAR_MS, max: base.lengthMs + YEAR_MS }), { nil: undefined }),
        })
        .map((moments) => ({ ...base, ...moments })),
    );

  test('reports exactly the rules that fail, in the stable order, and is eligible only when none does', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const sub = subscription({
          amountPaid: s.amountPaid,
          startDate: new Date(s.startMs),
          endDate: new Date(s.startMs + s.lengthMs),
          cancelledAt: s.cancelOffsetMs === undefined ? undefined : new Date(s.startMs + s.cancelOffsetMs),
          refundWindowDays: s.refundWindowDays,
          refundEligible: s.refundEligible,
          isRefundApplied: s.isRefundApplied,
        });
        const nowMs = s.startMs + s.nowOffsetMs;
        const existingRefund = s.existingStatus === null ? null : existing(s.existingStatus);

        // The eligibility rules, recomputed here with whole seconds for the amount.
        const secs = (ms: number) => Math.floor(ms / 1000);
        const effectiveCancelMs = s.cancelOffsetMs === undefined ? nowMs : s.startMs + s.cancelOffsetMs;
        const total = BigInt(secs(s.startMs + s.lengthMs) - secs(s.startMs));
        const remaining = BigInt(Math.max(0, secs(s.startMs + s.lengthMs) - Math.max(secs(s.startMs), secs(effectiveCancelMs))));
        const proRata = (s.amountPaid * remaining) / total;
        const refund = proRata - (proRata * BigInt(s.penaltyBps)) / 10_000n;
        const failing: Record<string, boolean> = {
          NOT_REFUND_ELIGIBLE: !s.refundEligible,
          REFUND_ALREADY_APPLIED: s.isRefundApplied,
          // the window and the period are judged when the subscription was cancelled (else when asked)
          REFUND_WINDOW_EXPIRED: effectiveCancelMs > s.startMs + s.refundWindowDays * DAY_MS,
          PERIOD_ENDED: effectiveCancelMs >= s.startMs + s.lengthMs,
          NOTHING_TO_REFUND: refund === 0n,
          REFUND_EXISTS: existingRefund !== null && BLOCKING.includes(existingRefund.refundStatus),
        };
        const expected = REASON_ORDER.filter((reason) => failing[reason]);

        const result = checkRefundEligibility(sub, existingRefund, new Date(nowMs), { penaltyBps: s.penaltyBps });
        expect(result.reasons).toEqual(expected);
        expect(result.eligible).toBe(expected.length === 0);
      }),
      { numRuns: 3000 },
    );
  });
});
