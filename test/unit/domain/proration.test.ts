import { DomainError } from '../../../src/domain/errors';
import { calculateProRataRefund, PRORATION_FORMULA } from '../../../src/domain/proration';
import { at, MAX_UINT256_LITERAL, ONE_ETH, subscription, USDC_ADDRESS } from '../../support/fixtures';
import { thrownBy } from '../../support/thrown';

const NO_PENALTY = { penaltyBps: 0 };
const USDC = { symbol: 'USDC', decimals: 6, tokenAddress: USDC_ADDRESS };

// The default fixture period: 2024-01-01T00:00Z → 2024-01-31T00:00Z = 30 days = 30 × 86 400 = 2 592 000 s.
const THIRTY_DAYS_S = 2_592_000;

// A 4-second period makes the uint256 arithmetic derivable by hand: MAX = 2^256 − 1 = 4·2^254 − 1.
const FOUR_SECONDS = { startDate: at('2024-01-01T00:00:00.000Z'), endDate: at('2024-01-01T00:00:04.000Z') };
const TWO_POW_254 = 1n << 254n;
const TWO_POW_255 = 1n << 255n;

describe('calculateProRataRefund: hand-computed amounts', () => {
  test.each<[string, bigint, string, bigint, bigint, number]>([
    // label, amountPaid, requestedAt, refund, retained, remainingSeconds
    ['1 ETH requested at the start refunds everything', ONE_ETH, '2024-01-01T00:00:00.000Z', ONE_ETH, 0n, THIRTY_DAYS_S],
    ['1 ETH requested a week before the start refunds everything', ONE_ETH, '2023-12-25T00:00:00.000Z', ONE_ETH, 0n, THIRTY_DAYS_S],
    // 10^18 × 1 296 000 / 2 592 000 = 5 × 10^17 exactly
    ['1 ETH requested half-way refunds half', ONE_ETH, '2024-01-16T00:00:00.000Z', 500_000_000_000_000_000n, 500_000_000_000_000_000n, 1_296_000],
    // 10^18 × 1 728 000 / 2 592 000 = 666 666 666 666 666 666.67 → floor
    ['1 ETH requested after 10 of 30 days refunds two thirds, floored', ONE_ETH, '2024-01-11T00:00:00.000Z', 666_666_666_666_666_666n, 333_333_333_333_333_334n, 1_728_000],
    // 10^18 × 2 591 999 / 2 592 000 = 999 999 614 197 530 864.19 → floor
    ['1 ETH requested one second after the start', ONE_ETH, '2024-01-01T00:00:01.000Z', 999_999_614_197_530_864n, 385_802_469_136n, 2_591_999],
    // 10^18 × 1 / 2 592 000 = 385 802 469 135.80 → floor
    ['1 ETH requested one second before the end', ONE_ETH, '2024-01-30T23:59:59.000Z', 385_802_469_135n, 999_999_614_197_530_865n, 1],
    ['1 ETH requested exactly at the end refunds nothing', ONE_ETH, '2024-01-31T00:00:00.000Z', 0n, ONE_ETH, 0],
    ['1 ETH requested after the end refunds nothing', ONE_ETH, '2024-02-15T00:00:00.000Z', 0n, ONE_ETH, 0],
    ['1 wei requested at the start refunds the wei', 1n, '2024-01-01T00:00:00.000Z', 1n, 0n, THIRTY_DAYS_S],
    // 1 × 2 591 999 / 2 592 000 = 0.99999… → 0
    ['1 wei requested one second after the start refunds nothing', 1n, '2024-01-01T00:00:01.000Z', 0n, 1n, 2_591_999],
    // 1 × 1 296 000 / 2 592 000 = 0.5 → 0
    ['1 wei requested half-way refunds nothing', 1n, '2024-01-16T00:00:00.000Z', 0n, 1n, 1_296_000],
    // 3 wei × 1 728 000 / 2 592 000 = 2 exactly
    ['3 wei requested after 10 of 30 days refunds 2 wei', 3n, '2024-01-11T00:00:00.000Z', 2n, 1n, 1_728_000],
    // 10 USDC = 10 000 000 units; 10 000 000 × 1 728 000 / 2 592 000 = 6 666 666.67 → 6 666 666
    ['10 USDC requested after 10 of 30 days', 10_000_000n, '2024-01-11T00:00:00.000Z', 6_666_666n, 3_333_334n, 1_728_000],
    // 0.000001 USDC = 1 unit, at the start: all of it
    ['the smallest USDC unit requested at the start', 1n, '2024-01-01T00:00:00.000Z', 1n, 0n, THIRTY_DAYS_S],
    ['a free subscription refunds nothing', 0n, '2024-01-01T00:00:00.000Z', 0n, 0n, THIRTY_DAYS_S],
  ])('%s', (_label, amountPaid, requestedAt, refund, retained, remainingSeconds) => {
    const result = calculateProRataRefund(subscription({ amountPaid }), at(requestedAt), NO_PENALTY);
    expect(result.amount).toBe(refund);
    expect(result.retained).toBe(retained);
    expect(result.breakdown.totalSeconds).toBe(THIRTY_DAYS_S);
    expect(result.breakdown.remainingSeconds).toBe(remainingSeconds);
  });

  test('works the same for a 6-decimal token as for wei: the unit count is all that matters', () => {
    const result = calculateProRataRefund(subscription({ amountPaid: 10_000_000n, currency: USDC }), at('2024-01-11T00:00:00.000Z'), NO_PENALTY);
    expect(result.amount).toBe(6_666_666n);
    expect(result.breakdown.currency).toEqual(USDC);
  });
});

describe('calculateProRataRefund: amounts at the top of uint256', () => {
  test.each<[string, bigint, string, bigint, bigint]>([
    // label, amountPaid, requestedAt, refund, retained   (period: 4 s)
    ['MAX at the start refunds MAX', MAX_UINT256_LITERAL, '2024-01-01T00:00:00.000Z', MAX_UINT256_LITERAL, 0n],
    // floor(3·(4·2^254 − 1)/4) = floor(3·2^254 − 3/4) = 3·2^254 − 1; retained = 4·2^254 − 1 − (3·2^254 − 1) = 2^254
    ['MAX with 3 of 4 seconds left', MAX_UINT256_LITERAL, '2024-01-01T00:00:01.000Z', 3n * TWO_POW_254 - 1n, TWO_POW_254],
    // floor((2^256 − 1)/2) = 2^255 − 1; retained = 2^255
    ['MAX with 2 of 4 seconds left', MAX_UINT256_LITERAL, '2024-01-01T00:00:02.000Z', TWO_POW_255 - 1n, TWO_POW_255],
    // floor((4·2^254 − 1)/4) = 2^254 − 1; retained = 3·2^254
    ['MAX with 1 of 4 seconds left', MAX_UINT256_LITERAL, '2024-01-01T00:00:03.000Z', TWO_POW_254 - 1n, 3n * TWO_POW_254],
    ['MAX at the end refunds nothing', MAX_UINT256_LITERAL, '2024-01-01T00:00:04.000Z', 0n, MAX_UINT256_LITERAL],
    // (2^256 − 2)/2 = 2^255 − 1 exactly; retained = 2^255 − 1
    ['MAX − 1 with 2 of 4 seconds left', MAX_UINT256_LITERAL - 1n, '2024-01-01T00:00:02.000Z', TWO_POW_255 - 1n, TWO_POW_255 - 1n],
    ['MAX − 1 at the start refunds MAX − 1', MAX_UINT256_LITERAL - 1n, '2024-01-01T00:00:00.000Z', MAX_UINT256_LITERAL - 1n, 0n],
  ])('%s', (_label, amountPaid, requestedAt, refund, retained) => {
    const result = calculateProRataRefund(subscription({ amountPaid, ...FOUR_SECONDS }), at(requestedAt), NO_PENALTY);
    expect(result.amount).toBe(refund);
    expect(result.retained).toBe(retained);
  });

  test('writes the uint256 results out in full in the breakdown', () => {
    const result = calculateProRataRefund(subscription({ amountPaid: MAX_UINT256_LITERAL, ...FOUR_SECONDS }), at('2024-01-01T00:00:01.000Z'), NO_PENALTY);
    // 3·2^254 − 1 and 2^254, written out
    expect(result.breakdown.amount).toBe('86844066927987146567678238756515930889952488499230423029593188005934847229951');
    expect(result.breakdown.retained).toBe('28948022309329048855892746252171976963317496166410141009864396001978282409984');
  });
});

describe('calculateProRataRefund: time counts in whole seconds', () => {
  test('999 ms after the start still refunds in full (the same second as the start)', () => {
    const result = calculateProRataRefund(subscription(), at('2024-01-01T00:00:00.999Z'), NO_PENALTY);
    expect(result.breakdown.remainingSeconds).toBe(THIRTY_DAYS_S);
    expect(result.amount).toBe(ONE_ETH);
  });

  test('1 ms before the end leaves one second to refund', () => {
    const result = calculateProRataRefund(subscription(), at('2024-01-30T23:59:59.999Z'), NO_PENALTY);
    expect(result.breakdown.remainingSeconds).toBe(1);
    expect(result.amount).toBe(385_802_469_135n); // floor(10^18 / 2 592 000)
  });

  test('a period shorter than one whole second is an error, never a number', () => {
    const tooShort = subscription({ startDate: at('2024-01-01T00:00:00.100Z'), endDate: at('2024-01-01T00:00:00.900Z') });
    const error = thrownBy(() => calculateProRataRefund(tooShort, at('2024-01-01T00:00:00.100Z'), NO_PENALTY));
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe('INVALID_SUBSCRIPTION');
  });

  test('an invalid request time is an error, never a number', () => {
    expect(() => calculateProRataRefund(subscription(), new Date('not a date'), NO_PENALTY)).toThrow();
  });
});

describe('calculateProRataRefund: the effective cancellation time is cancelledAt ?? requestedAt', () => {
  test.each<[string, string | undefined, string, bigint, string]>([
    // label, cancelledAt, requestedAt, refund, effectiveCancelAt
    // no cancellation recorded: the request time counts; 20 of 30 days left
    ['without cancelledAt the request time counts', undefined, '2024-01-11T00:00:00.000Z', 666_666_666_666_666_666n, '2024-01-11T00:00:00.000Z'],
    // cancelled on day 10, asked on day 20: 20 of 30 days left, not 10
    ['an earlier cancellation wins over a later request', '2024-01-11T00:00:00.000Z', '2024-01-21T00:00:00.000Z', 666_666_666_666_666_666n, '2024-01-11T00:00:00.000Z'],
    // cancellation recorded for day 20, asked on day 10: 10 of 30 days left → 333 333 333 333 333 333.3 → floor
    ['a recorded cancellation wins even when later than the request', '2024-01-21T00:00:00.000Z', '2024-01-11T00:00:00.000Z', 333_333_333_333_333_333n, '2024-01-21T00:00:00.000Z'],
    ['a cancellation before the start refunds everything', '2023-12-01T00:00:00.000Z', '2024-01-21T00:00:00.000Z', ONE_ETH, '2023-12-01T00:00:00.000Z'],
    ['a cancellation at the end refunds nothing', '2024-01-31T00:00:00.000Z', '2024-01-02T00:00:00.000Z', 0n, '2024-01-31T00:00:00.000Z'],
    // the proration does not judge lateness: eligibility reports PERIOD_ENDED separately
    ['a request after the end of a period cancelled on day 10 still prorates from day 10', '2024-01-11T00:00:00.000Z', '2024-03-01T00:00:00.000Z', 666_666_666_666_666_666n, '2024-01-11T00:00:00.000Z'],
  ])('%s', (_label, cancelledAt, requestedAt, refund, effectiveCancelAt) => {
    const sub = subscription({ cancelledAt: cancelledAt === undefined ? undefined : at(cancelledAt) });
    const { amount, breakdown } = calculateProRataRefund(sub, at(requestedAt), NO_PENALTY);
    expect(amount).toBe(refund);
    expect(breakdown.effectiveCancelAt).toBe(effectiveCancelAt);
    expect(breakdown.requestedAt).toBe(requestedAt);
    expect(breakdown.cancelledAt).toBe(cancelledAt ?? null);
  });
});

describe('calculateProRataRefund: the penalty is taken off the pro-rata amount, floored', () => {
  test.each<[string, bigint, string, number, bigint, bigint, bigint]>([
    // label, amountPaid, requestedAt, penaltyBps, proRata, penalty, refund
    // pro-rata = 5 × 10^17 (half of 1 ETH)
    ['0 bps keeps nothing', ONE_ETH, '2024-01-16T00:00:00.000Z', 0, 500_000_000_000_000_000n, 0n, 500_000_000_000_000_000n],
    // 5 × 10^17 × 1 / 10 000 = 5 × 10^13
    ['1 bps keeps a ten-thousandth', ONE_ETH, '2024-01-16T00:00:00.000Z', 1, 500_000_000_000_000_000n, 50_000_000_000_000n, 499_950_000_000_000_000n],
    // 5 × 10^17 × 2 500 / 10 000 = 1.25 × 10^17
    ['2500 bps keeps a quarter', ONE_ETH, '2024-01-16T00:00:00.000Z', 2500, 500_000_000_000_000_000n, 125_000_000_000_000_000n, 375_000_000_000_000_000n],
    ['10000 bps keeps everything', ONE_ETH, '2024-01-16T00:00:00.000Z', 10_000, 500_000_000_000_000_000n, 500_000_000_000_000_000n, 0n],
    // pro-rata = 6 666 666 USDC units; 6 666 666 × 1 / 10 000 = 666.67 → 666
    ['1 bps on 6.666666 USDC floors the penalty', 10_000_000n, '2024-01-11T00:00:00.000Z', 1, 6_666_666n, 666n, 6_666_000n],
    // 6 666 666 × 2 500 / 10 000 = 1 666 666.5 → 1 666 666
    ['2500 bps on 6.666666 USDC floors the penalty', 10_000_000n, '2024-01-11T00:00:00.000Z', 2500, 6_666_666n, 1_666_666n, 5_000_000n],
    ['10000 bps on 6.666666 USDC keeps all of it', 10_000_000n, '2024-01-11T00:00:00.000Z', 10_000, 6_666_666n, 6_666_666n, 0n],
    // 1 × 2 500 / 10 000 = 0.25 → 0: too small to take
    ['2500 bps on 1 wei takes nothing', 1n, '2024-01-01T00:00:00.000Z', 2500, 1n, 0n, 1n],
    // 1 × 9 999 / 10 000 = 0.9999 → 0
    ['9999 bps on 1 wei takes nothing', 1n, '2024-01-01T00:00:00.000Z', 9999, 1n, 0n, 1n],
    ['10000 bps on 1 wei takes the wei', 1n, '2024-01-01T00:00:00.000Z', 10_000, 1n, 1n, 0n],
  ])('%s', (_label, amountPaid, requestedAt, penaltyBps, proRata, penalty, refund) => {
    const { amount, retained, breakdown } = calculateProRataRefund(subscription({ amountPaid }), at(requestedAt), { penaltyBps });
    expect(breakdown.proRataAmount).toBe(proRata.toString());
    expect(breakdown.penaltyAmount).toBe(penalty.toString());
    expect(breakdown.penaltyBps).toBe(penaltyBps);
    expect(amount).toBe(refund);
    expect(retained).toBe(amountPaid - refund);
  });

  test.each<[number, bigint]>([
    // floor(MAX / 10 000) = 11579208923731619542357098500868790785326998466564056403945758400791312963
    [1, 11579208923731619542357098500868790785326998466564056403945758400791312963n],
    // floor((4·2^254 − 1) / 4) = 2^254 − 1
    [2500, TWO_POW_254 - 1n],
    [10_000, MAX_UINT256_LITERAL],
  ])('takes %p bps off a full MAX_UINT256 refund exactly', (penaltyBps, penalty) => {
    const { amount, breakdown } = calculateProRataRefund(subscription({ amountPaid: MAX_UINT256_LITERAL, ...FOUR_SECONDS }), at('2024-01-01T00:00:00.000Z'), {
      penaltyBps,
    });
    expect(breakdown.penaltyAmount).toBe(penalty.toString());
    expect(amount).toBe(MAX_UINT256_LITERAL - penalty);
  });

  test.each([
    ['negative', -1],
    ['above 10000', 10_001],
    ['fractional', 1.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
  ])('refuses a penalty that is %s', (_label, penaltyBps) => {
    const error = thrownBy(() => calculateProRataRefund(subscription(), at('2024-01-16T00:00:00.000Z'), { penaltyBps }));
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe('INVALID_POLICY');
  });
});

describe('calculateProRataRefund: the breakdown', () => {
  test('records every input and intermediate of the computation', () => {
    const sub = subscription({ amountPaid: 10_000_000n, currency: USDC, cancelledAt: at('2024-01-11T00:00:00.000Z') });
    const { breakdown } = calculateProRataRefund(sub, at('2024-01-12T08:30:00.000Z'), { penaltyBps: 2500 }, at('2024-01-12T08:30:05.000Z'));
    expect(breakdown).toEqual({
      formula: PRORATION_FORMULA,
      amountPaid: '10000000',
      currency: USDC,
      startDate: '2024-01-01T00:00:00.000Z',
      endDate: '2024-01-31T00:00:00.000Z',
      requestedAt: '2024-01-12T08:30:00.000Z',
      cancelledAt: '2024-01-11T00:00:00.000Z',
      effectiveCancelAt: '2024-01-11T00:00:00.000Z',
      totalSeconds: 2_592_000,
      remainingSeconds: 1_728_000, // 20 days × 86 400
      proRataAmount: '6666666', // floor(10 000 000 × 1 728 000 / 2 592 000)
      penaltyBps: 2500,
      penaltyAmount: '1666666', // floor(6 666 666 × 2 500 / 10 000)
      amount: '5000000', // 6 666 666 − 1 666 666
      retained: '5000000', // 10 000 000 − 5 000 000
      computedAt: '2024-01-12T08:30:05.000Z',
    });
  });

  test('is JSON-safe: it survives a round trip unchanged', () => {
    const { breakdown } = calculateProRataRefund(subscription({ amountPaid: MAX_UINT256_LITERAL }), at('2024-01-11T00:00:00.000Z'), { penaltyBps: 1 });
    expect(JSON.parse(JSON.stringify(breakdown))).toEqual(breakdown);
  });

  test('uses the request time as computedAt by default', () => {
    const { breakdown } = calculateProRataRefund(subscription(), at('2024-01-11T00:00:00.000Z'), NO_PENALTY);
    expect(breakdown.computedAt).toBe('2024-01-11T00:00:00.000Z');
  });

  test('states the formula it applied, for the auditor', () => {
    expect(PRORATION_FORMULA).toContain('floor(amountPaid × remainingSeconds / totalSeconds)');
    expect(PRORATION_FORMULA).toContain('floor(proRataAmount × penaltyBps / 10000)');
  });
});
