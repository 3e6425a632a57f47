import {
  BLOCKING_STATUSES,
  canTransition,
  isTerminal,
  REFUND_STATUSES,
  sourcesOf,
  TERMINAL_STATUSES,
  type RefundStatus,
} from '../../../src/domain/refund-status';

/**
 * SPEC: pending_approval → approved → processing → completed, and rejected,
 * cancelled (withdrawn while pending), failed (payout failed for good; retry resumes it).
 * The full allowed set, written out: every pair not listed here must be refused.
 */
const ALLOWED: Array<[RefundStatus, RefundStatus]> = [
  ['pending_approval', 'approved'],
  ['pending_approval', 'rejected'],
  ['pending_approval', 'cancelled'],
  ['approved', 'processing'],
  ['processing', 'completed'],
  ['processing', 'failed'],
  ['failed', 'processing'],
];
const isAllowed = (from: RefundStatus, to: RefundStatus) => ALLOWED.some(([f, t]) => f === from && t === to);
const ALL_PAIRS = REFUND_STATUSES.flatMap((from) => REFUND_STATUSES.map((to) => [from, to] as [RefundStatus, RefundStatus]));

describe('refund statuses', () => {
  test('are the seven of the refund life cycle', () => {
    expect([...REFUND_STATUSES].sort()).toEqual(['approved', 'cancelled', 'completed', 'failed', 'pending_approval', 'processing', 'rejected']);
  });

  test.each(ALL_PAIRS.filter(([from, to]) => isAllowed(from, to)))('allow %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
  });

  test.each(ALL_PAIRS.filter(([from, to]) => !isAllowed(from, to)))('refuse %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(false);
  });

  test.each<[RefundStatus, RefundStatus[]]>([
    ['pending_approval', []],
    ['approved', ['pending_approval']],
    ['processing', ['approved', 'failed']],
    ['completed', ['processing']],
    ['rejected', ['pending_approval']],
    ['cancelled', ['pending_approval']],
    ['failed', ['processing']],
  ])('list the sources of %s', (to, sources) => {
    expect(sourcesOf(to)).toEqual(sources);
  });

  test('call completed, rejected and cancelled terminal, and nothing else', () => {
    expect([...TERMINAL_STATUSES].sort()).toEqual(['cancelled', 'completed', 'rejected']);
    for (const status of REFUND_STATUSES) expect(isTerminal(status)).toBe(['completed', 'rejected', 'cancelled'].includes(status));
  });

  test('leave a terminal status by no transition at all', () => {
    for (const from of TERMINAL_STATUSES) for (const to of REFUND_STATUSES) expect(canTransition(from, to)).toBe(false);
  });

  test('keep a failed payout retryable rather than terminal', () => {
    expect(isTerminal('failed')).toBe(false);
    expect(canTransition('failed', 'processing')).toBe(true);
  });

  test('reach a terminal status from every status', () => {
    for (const start of REFUND_STATUSES) {
      const seen = new Set<RefundStatus>([start]);
      const queue: RefundStatus[] = [start];
      while (queue.length > 0) {
        const current = queue.shift()!;
        for (const next of REFUND_STATUSES) {
          if (canTransition(current, next) && !seen.has(next)) {
            seen.add(next);
            queue.push(next);
          }
        }
      }
      expect([...seen].some(isTerminal)).toBe(true);
    }
  });

  test('reach completed only through processing, so no payout skips approval', () => {
    expect(sourcesOf('completed')).toEqual(['processing']);
    expect(sourcesOf('processing').every((from) => from === 'approved' || from === 'failed')).toBe(true);
  });

  test('block a new refund while one is live or completed, but not after rejection or withdrawal', () => {
    expect([...BLOCKING_STATUSES].sort()).toEqual(['approved', 'completed', 'failed', 'pending_approval', 'processing']);
    expect(BLOCKING_STATUSES).not.toContain('rejected');
    expect(BLOCKING_STATUSES).not.toContain('cancelled');
  });
});
