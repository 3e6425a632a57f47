import fc from 'fast-check';
import { formatAmount } from '../../src/domain/amount';
import {
  age,
  breakdownRows,
  countdown,
  explainFailure,
  explainSignInFailure,
  explorerTxUrl,
  formatDuration,
  formatInstant,
  formatMoney,
  formatUnits,
  percent,
  readTokenClaims,
  temporalWorkflowUrl,
  type Breakdown,
} from '../../src/console/format';

const ETH = { symbol: 'ETH', decimals: 18, tokenAddress: null };
const USDC = { symbol: 'USDC', decimals: 6, tokenAddress: '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48' };

describe('admin console: amounts', () => {
  test.each([
    ['1000000000000000000', 18, '1'],
    ['1500000000000000000', 18, '1.5'],
    ['666666666666666666', 18, '0.666666666666666666'],
    ['1', 18, '0.000000000000000001'],
    ['0', 18, '0'],
    ['48333961418209876543209', 18, '48,333.961418209876543209'],
    ['115792089237316195423570985008687907853269984665640564039457584007913129639935', 18, '115,792,089,237,316,195,423,570,985,008,687,907,853,269,984,665,640,564,039,457.584007913129639935'],
    ['1234567890', 6, '1,234.56789'],
    ['1000000', 6, '1'],
    ['999999', 6, '0.999999'],
    ['10', 6, '0.00001'],
    ['1234', 0, '1,234'],
  ])('%s with %i decimals is %s', (amount, decimals, expected) => {
    expect(formatUnits(amount, decimals)).toBe(expected);
  });

  test('digits are the service\'s own formatting (src/domain/amount.ts), only grouped: 18 and 6 decimals, any amount', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 256n) - 1n }), fc.constantFrom(18, 6), (amount, decimals) => {
        expect(formatUnits(amount.toString(), decimals).replace(/,/g, '')).toBe(formatAmount(amount, decimals));
      }),
    );
  });

  test('with the currency, and never a float on the way', () => {
    expect(formatMoney('2100000000000000000', ETH)).toBe('2.1 ETH');
    expect(formatMoney('2500000', USDC)).toBe('2.5 USDC');
    // 0.1 + 0.2 in floating point would show 0.30000000000000004
    expect(formatMoney('300000000000000000', ETH)).toBe('0.3 ETH');
    expect(formatMoney('9007199254740993', ETH)).toBe('0.009007199254740993 ETH');
  });

  test('an amount that is not an integer string is refused, and shown as unreadable rather than breaking the page', () => {
    for (const bad of ['', '-1', '1.5', '1e18', '01', ' 1', '0x10']) expect(() => formatUnits(bad, 18)).toThrow(RangeError);
    expect(() => formatUnits('1', 37)).toThrow(RangeError);
    expect(formatMoney('1.5', ETH)).toBe('1.5 (unreadable amount) ETH');
  });
});

describe('admin console: time', () => {
  const now = Date.parse('2024-03-01T12:00:00.000Z');

  test.each([
    [0, '0 s'],
    [999, '0 s'],
    [1000, '1 s'],
    [65_000, '1 min 5 s'],
    [3_600_000, '1 h'],
    [3_660_000, '1 h 1 min'],
    [3_661_000, '1 h 1 min'],
    [14 * 86_400_000, '14 d'],
    [2 * 86_400_000 + 3 * 3_600_000 + 59 * 60_000, '2 d 3 h'],
    [-5000, '0 s'],
  ])('%i ms reads %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  test('the auto-approval countdown counts down to the deadline, then says it is due', () => {
    const deadline = '2024-03-15T12:00:00.000Z';
    expect(countdown(deadline, now)).toEqual({ text: 'in 14 d', overdue: false, msLeft: 14 * 86_400_000 });
    expect(countdown(deadline, Date.parse('2024-03-15T11:58:30.500Z')).text).toBe('in 1 min 29 s');
    expect(countdown(deadline, Date.parse(deadline))).toMatchObject({ text: 'due now', overdue: true });
    expect(countdown(deadline, Date.parse(deadline) + 60_000)).toMatchObject({ text: 'due now', overdue: true, msLeft: -60_000 });
    expect(countdown('not a date', now).text).toBe('unknown');
  });

  test('a countdown never shows more time than is left, and never grows as time passes', () => {
    const deadline = now + 10 * 86_400_000;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20 * 86_400_000 }), fc.integer({ min: 0, max: 86_400_000 }), (elapsed, later) => {
        const first = countdown(new Date(deadline).toISOString(), now + elapsed);
        const second = countdown(new Date(deadline).toISOString(), now + elapsed + later);
        expect(second.msLeft).toBeLessThanOrEqual(first.msLeft);
        if (!first.overdue) expect(shownMs(first.text)).toBeLessThanOrEqual(first.msLeft);
      }),
    );
  });

  test('ages and instants', () => {
    expect(age('2024-03-01T09:30:00.000Z', now)).toBe('2 h 30 min');
    expect(formatInstant('2024-03-01T09:30:05.123Z')).toBe('2024-03-01 09:30:05 UTC');
    expect(formatInstant(null)).toBe('—');
  });
});

function shownMs(text: string): number {
  const sizes: Record<string, number> = { d: 86_400_000, h: 3_600_000, min: 60_000, s: 1000 };
  return [...text.matchAll(/(\d+) (d|h|min|s)\b/g)].reduce((sum, [, count, unit]) => sum + Number(count) * sizes[unit!]!, 0);
}

describe('admin console: the breakdown as a calculation', () => {
  const breakdown: Breakdown = {
    formula: 'proRataAmount = floor(amountPaid × remainingSeconds / totalSeconds); …',
    amountPaid: '1000000000000000000',
    currency: ETH,
    startDate: '2024-01-01T00:00:00.000Z',
    endDate: '2024-01-31T00:00:00.000Z',
    requestedAt: '2024-01-16T00:00:00.000Z',
    cancelledAt: '2024-01-16T00:00:00.000Z',
    effectiveCancelAt: '2024-01-16T00:00:00.000Z',
    totalSeconds: 2_592_000,
    remainingSeconds: 1_296_000,
    proRataAmount: '500000000000000000',
    penaltyBps: 250,
    penaltyAmount: '12500000000000000',
    amount: '487500000000000000',
    retained: '512500000000000000',
  };

  test('reads top to bottom: paid, period, remaining, pro-rata, penalty, refund, retained', () => {
    const rows = Object.fromEntries(breakdownRows(breakdown).map((row) => [row.label, row]));
    expect(Object.keys(rows)).toEqual(['Paid', 'Period', 'Counted from', 'Remaining', 'Pro-rata', 'Penalty', 'Refund', 'Retained']);
    expect(rows.Paid!.value).toBe('1 ETH');
    expect(rows.Period!.detail).toBe('2,592,000 s (30 d)');
    expect(rows.Remaining!).toMatchObject({ value: '1,296,000 s of 2,592,000 s', detail: '50.00 % of the period unused' });
    expect(rows['Pro-rata']!).toMatchObject({ value: '0.5 ETH', detail: expect.stringContaining('1 ETH × 1,296,000 s ÷ 2,592,000 s') });
    expect(rows.Penalty!).toMatchObject({ value: '− 0.0125 ETH', detail: expect.stringContaining('250 bps (2.50 %)') });
    expect(rows.Refund!.value).toBe('0.4875 ETH');
    expect(rows.Retained!.value).toBe('0.5125 ETH');
    expect(rows['Counted from']!.detail).toBe('the cancellation');
  });

  test('without a penalty or a cancellation it says so', () => {
    const rows = breakdownRows({ ...breakdown, penaltyBps: 0, penaltyAmount: '0', cancelledAt: null, amount: '500000000000000000', retained: '500000000000000000' });
    expect(rows.find((row) => row.label === 'Penalty')).toMatchObject({ value: '0 ETH', detail: 'no penalty configured' });
    expect(rows.find((row) => row.label === 'Counted from')!.detail).toMatch(/^the request/);
  });

  test('percentages are exact integers, rounded down', () => {
    expect(percent(1n, 3n)).toBe('33.33 %');
    expect(percent(2n, 3n)).toBe('66.66 %');
    expect(percent(5n, 5n)).toBe('100.00 %');
    expect(percent(1n, 0n)).toBe('—');
  });
});

describe('admin console: links, tokens, errors', () => {
  test('an explorer link only where the network has an explorer; the Web UI only where configured', () => {
    expect(explorerTxUrl('https://etherscan.io', '0xabc')).toBe('https://etherscan.io/tx/0xabc');
    expect(explorerTxUrl(null, '0xabc')).toBeNull();
    expect(temporalWorkflowUrl('http://127.0.0.1:8233/', 'default', 'prorata-refund-65f1')).toBe(
      "http://127.0.0.1:8233/namespaces/default/workflows?query=WorkflowId%20%3D%20'prorata-refund-65f1'",
    );
    expect(temporalWorkflowUrl(null, 'default', 'x')).toBeNull();
  });

  test('token claims are read for wording only; garbage reads as nothing', () => {
    const payload = Buffer.from(JSON.stringify({ sub: 'ops-ålice', role: 'user', exp: 1_700_000_000 })).toString('base64url');
    expect(readTokenClaims(`eyJhbGciOiJIUzI1NiJ9.${payload}.sig`)).toEqual({ sub: 'ops-ålice', role: 'user', exp: 1_700_000_000 });
    expect(readTokenClaims('not a token')).toBeNull();
    expect(readTokenClaims('a.%%%.c')).toBeNull();
  });

  test('sign-in refusals say what to do', () => {
    const now = Date.parse('2023-11-14T23:13:20.000Z');
    expect(explainSignInFailure({ status: 401, code: 'TOKEN_EXPIRED' }, { exp: 1_700_003_600 - 3_600 }, now)).toBe(
      'This token expired at 2023-11-14 22:13:20 UTC (1 h ago). Mint a new admin token and sign in again.',
    );
    expect(explainSignInFailure({ status: 403, code: 'FORBIDDEN' }, { sub: 'user-1', role: 'user' }, now)).toBe(
      'This token belongs to a user ("user-1"), not an admin: the console needs a token with role admin.',
    );
    expect(explainSignInFailure({ status: 401, code: 'INVALID_TOKEN', message: 'the token is invalid' }, null, now)).toMatch(/AUTH_JWT_SECRET/);
  });

  test('a 409 on a decision is explained in words, with where the refund is now', () => {
    expect(explainFailure({ status: 409, code: 'REFUND_NOT_PENDING', details: { refundStatus: 'approved' } }, 'approve')).toBe(
      'Already decided: this refund is approved. Someone else, or the auto-approval timer, decided before your approve reached it; nothing was changed.',
    );
    expect(explainFailure({ status: 409, code: 'REFUND_NOT_FAILED', details: { refundStatus: 'completed' } }, 'retry')).toMatch(/^Not retried: the refund is completed\./);
    expect(explainFailure({ status: 0, code: 'NETWORK' })).toMatch(/cannot be reached/);
    expect(explainFailure({ status: 418, code: 'SOMETHING_NEW', message: 'odd' })).toBe('The API answered 418 SOMETHING_NEW: odd.');
  });
});
