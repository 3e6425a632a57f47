import fc from 'fast-check';
import { initialFees, outbid, replacementFees, suggestedFees, type Fees } from '../../../src/payout/fees';

const GWEI = 1_000_000_000n;

describe('payout fees', () => {
  test('the suggestion covers twice the next base fee plus the tip', () => {
    expect(suggestedFees(10n * GWEI, 2n * GWEI)).toEqual({ maxFeePerGas: 22n * GWEI, maxPriorityFeePerGas: 2n * GWEI });
  });

  test('the first transaction never offers more than the cap', () => {
    expect(initialFees({ maxFeePerGas: 900n * GWEI, maxPriorityFeePerGas: 2n * GWEI }, 500n * GWEI)).toEqual({ maxFeePerGas: 500n * GWEI, maxPriorityFeePerGas: 2n * GWEI });
    expect(initialFees({ maxFeePerGas: 900n * GWEI, maxPriorityFeePerGas: 800n * GWEI }, 500n * GWEI)).toEqual({ maxFeePerGas: 500n * GWEI, maxPriorityFeePerGas: 500n * GWEI });
  });

  test('a replacement raises both fields by the bump, or to the suggestion when that is higher', () => {
    const previous: Fees = { maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: 1n * GWEI };
    expect(replacementFees(previous, { maxFeePerGas: 3n * GWEI, maxPriorityFeePerGas: GWEI }, 20, 500n * GWEI)).toEqual({
      kind: 'bumped',
      fees: { maxFeePerGas: 12n * GWEI, maxPriorityFeePerGas: 1_200_000_000n },
    });
    expect(replacementFees(previous, { maxFeePerGas: 201n * GWEI, maxPriorityFeePerGas: GWEI }, 20, 500n * GWEI)).toMatchObject({ kind: 'bumped', fees: { maxFeePerGas: 201n * GWEI } });
  });

  test('a bump below the nodes\' 10 % is raised to 10 %, and a zero tip still rises', () => {
    expect(replacementFees({ maxFeePerGas: 100n, maxPriorityFeePerGas: 0n }, { maxFeePerGas: 1n, maxPriorityFeePerGas: 0n }, 5, 10_000n)).toEqual({
      kind: 'bumped',
      fees: { maxFeePerGas: 110n, maxPriorityFeePerGas: 1n },
    });
  });

  test('at the cap, when not even +10 % fits, there is no replacement', () => {
    const previous: Fees = { maxFeePerGas: 480n * GWEI, maxPriorityFeePerGas: 2n * GWEI };
    expect(replacementFees(previous, { maxFeePerGas: 900n * GWEI, maxPriorityFeePerGas: 2n * GWEI }, 20, 500n * GWEI)).toMatchObject({ kind: 'at_cap' });
    // +10 % still fits under the cap: the replacement stops at the cap
    expect(replacementFees({ maxFeePerGas: 400n * GWEI, maxPriorityFeePerGas: 2n * GWEI }, { maxFeePerGas: 900n * GWEI, maxPriorityFeePerGas: 2n * GWEI }, 50, 500n * GWEI)).toMatchObject({
      kind: 'bumped',
      fees: { maxFeePerGas: 500n * GWEI },
    });
  });

  test('a transaction is outbid only when it offers less than the next block\'s base fee plus the tip nodes expect, or a smaller tip', () => {
    const offered: Fees = { maxFeePerGas: 3n * GWEI, maxPriorityFeePerGas: GWEI };
    expect(outbid(offered, { baseFeePerGas: GWEI, priorityFeePerGas: GWEI })).toBe(false);
    expect(outbid(offered, { baseFeePerGas: 2n * GWEI, priorityFeePerGas: GWEI })).toBe(false); // exactly enough
    expect(outbid(offered, { baseFeePerGas: 2n * GWEI + 1n, priorityFeePerGas: GWEI })).toBe(true);
    expect(outbid(offered, { baseFeePerGas: GWEI, priorityFeePerGas: 2n * GWEI })).toBe(true);
  });

  test('every replacement a node would see is at least +10 % on both fields, within the cap, and its tip never exceeds its max fee', () => {
    const wei = fc.bigInt({ min: 0n, max: 10n ** 13n });
    fc.assert(
      fc.property(wei, wei, wei, wei, fc.integer({ min: 0, max: 300 }), fc.bigInt({ min: 1n, max: 10n ** 13n }), (maxFee, tip, suggestedMax, suggestedTip, bump, cap) => {
        const previous = { maxFeePerGas: maxFee > tip ? maxFee : tip, maxPriorityFeePerGas: tip };
        const result = replacementFees(previous, { maxFeePerGas: suggestedMax, maxPriorityFeePerGas: suggestedTip }, bump, cap);
        if (result.kind === 'at_cap') return;
        const { fees } = result;
        expect(fees.maxFeePerGas * 100n).toBeGreaterThanOrEqual(previous.maxFeePerGas * 110n);
        expect(fees.maxPriorityFeePerGas * 100n).toBeGreaterThanOrEqual(previous.maxPriorityFeePerGas * 110n);
        expect(fees.maxFeePerGas).toBeGreaterThan(previous.maxFeePerGas);
        expect(fees.maxFeePerGas).toBeLessThanOrEqual(cap);
        expect(fees.maxPriorityFeePerGas).toBeLessThanOrEqual(fees.maxFeePerGas);
      }),
      { numRuns: 2000 },
    );
  });
});
