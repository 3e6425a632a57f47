import { calculateProRataRefund } from '../../src/domain/proration';
import { formatAmount } from '../../src/domain/amount';
import { prepareRefundOf } from '../../src/domain/prepared-refund';
import { refundWorkflowMetadata } from '../../src/temporal/refund-metadata';
import { at, subscription, USDC_ADDRESS } from '../support/fixtures';

const DAY_MS = 86_400_000;

describe('refund workflow metadata (what the Temporal Web UI lists)', () => {
  const run = { refundId: 'rf_0123456789abcdef01234567', requestedAt: at('2024-01-16T00:00:00.000Z'), requestedBy: 'user-1', penaltyBps: 0, autoApproveAfterMs: 14 * DAY_MS };

  test('the summary names the amount the workflow will compute, the wallet and the subscription, on one line', () => {
    const sub = subscription({ amountPaid: 2_100_000_000_000_000_000n * 2n, startDate: at('2024-01-01T00:00:00.000Z'), endDate: at('2024-01-31T00:00:00.000Z') });
    const { staticSummary } = refundWorkflowMetadata({ ...run, subscription: sub });
    const { amount } = calculateProRataRefund(sub, run.requestedAt, { penaltyBps: 0 });
    expect(formatAmount(amount, 18)).toBe('2.1');
    expect(staticSummary).toBe('2.1 ETH to 0x8ba1f109…BA72 — subscription 65a1b2c3d4e5f60718293a4b');
    expect(staticSummary).not.toContain('\n');
  });

  test('the penalty in force is applied, and tokens use their own decimals and symbol', () => {
    const sub = subscription({ amountPaid: 30_000_000n, currency: { symbol: 'USDC', decimals: 6, tokenAddress: USDC_ADDRESS } });
    expect(refundWorkflowMetadata({ ...run, subscription: sub, penaltyBps: 1000 }).staticSummary).toMatch(/^13\.5 USDC to /);
  });

  test('the details give ids, the exact wallet, the period and when the timer approves', () => {
    const { staticDetails } = refundWorkflowMetadata({ ...run, subscription: subscription() });
    expect(staticDetails.split('\n\n')).toEqual([
      '**Refund** `rf_0123456789abcdef01234567`',
      '**Subscription** `65a1b2c3d4e5f60718293a4b` · user `user-1` · creator `creator-1`',
      '**Pays** 0.5 ETH to `0x8ba1f109551bD432803012645Ac136ddd64DBA72` (computed at request; the refund record is the reference)',
      '**Paid** 1 ETH for 2024-01-01T00:00:00.000Z → 2024-01-31T00:00:00.000Z',
      '**Requested** 2024-01-16T00:00:00.000Z by `user-1`',
      '**Auto-approves** 2024-01-30T00:00:00.000Z unless an admin decides first',
    ]);
  });

  test('an amount the starter already computed (the API) is shown as is, not computed again', () => {
    const sub = subscription();
    const prepared = prepareRefundOf(sub, run.requestedAt, { penaltyBps: 2500 });
    expect(prepared.amountFormatted).toBe('0.375');
    // The run's penalty is 0: a summary computed here would say 0.5 ETH.
    expect(refundWorkflowMetadata({ ...run, subscription: sub, prepared }).staticSummary).toMatch(/^0\.375 ETH to /);
  });

  test('a subscription that cannot be priced, or none at all, still gives a summary (never an error at start)', () => {
    const broken = subscription({ endDate: at('2024-01-01T00:00:00.000Z') });
    expect(refundWorkflowMetadata({ ...run, subscription: broken }).staticSummary).toBe('refund to 0x8ba1f109…BA72 — subscription 65a1b2c3d4e5f60718293a4b');
    expect(refundWorkflowMetadata(run).staticSummary).toBe('refund rf_0123456789abcdef01234567');
  });
});
