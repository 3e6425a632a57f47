import { classifyBroadcastError } from '../../../src/payout/broadcast-errors';
import { committedFunds } from '../../../src/payout/funds';
import { adminMayRetry } from '../../../src/payout/failures';

describe('what a node\'s refusal of a broadcast means', () => {
  test.each([
    ['already known', 'known'],
    ['known transaction: 0xabc', 'known'],
    ['nonce too low: next nonce 5, tx nonce 4', 'nonce_used'],
    ['insufficient funds for gas * price + value: balance 0', 'insufficient_funds'],
    ['replacement transaction underpriced', 'underpriced'],
    ['max fee per gas less than block base fee', 'underpriced'],
    ['transaction underpriced: tip needed 1, tip permitted 0', 'underpriced'],
    ['nonce too high: address 0xabc, tx: 7 state: 5', 'nonce_gap'],
    ['NonceGap', 'nonce_gap'],
    ['tx fee (1.50 ether) exceeds the configured cap (1.00 ether)', 'rejected'],
    ['intrinsic gas too low: have 20000, want 21000', 'rejected'],
  ])('"%s" is %s', (message, refusal) => {
    expect(classifyBroadcastError(new Error(message))).toBe(refusal);
  });

  test('reads the node\'s words inside an error ethers could not coalesce', () => {
    expect(classifyBroadcastError(Object.assign(new Error('could not coalesce error'), { error: { code: -32003, message: 'max fee per gas less than block base fee' } }))).toBe('underpriced');
  });

  test('anything else is not recognised: the watcher records it as rejected and goes on', () => {
    expect(classifyBroadcastError(new Error('ECONNRESET'))).toBeNull();
  });
});

describe('funds promised to payouts in flight', () => {
  const round = (nonce: number | null, wei: bigint, token: string | null = null, tokens = 0n) => ({ nonce, reservedWei: wei.toString(), tokenAddress: token, reservedTokens: tokens.toString() });

  test('counts rounds whose nonce is not mined yet; mined ones are already out of the balance', () => {
    const committed = committedFunds([round(3, 100n), round(4, 10n, '0xToken', 7n), round(5, 1n, '0xtoken', 3n)], 4);
    expect(committed.wei).toBe(11n);
    expect(committed.tokens.get('0xtoken')).toBe(10n);
    expect(committed.payouts).toBe(2);
  });

  test('a round whose nonce is unknown (written before rounds existed) is counted', () => {
    expect(committedFunds([round(null, 5n)], 100).wei).toBe(5n);
  });
});

describe('who may retry a failed payout', () => {
  test('never when money may have moved, or when the refund is wrong', () => {
    for (const type of ['PayoutAmountMismatch', 'CurrencyMismatch', 'PayoutClaimedByAnotherRefund', 'PayoutMismatch', 'InvalidAmount']) expect(adminMayRetry(type)).toBe(false);
    for (const type of ['InsufficientFunds', 'PayoutReverted', 'TokenTransferFailed', 'InvalidAddress', 'SomethingUnexpected', null]) expect(adminMayRetry(type)).toBe(true);
  });
});
