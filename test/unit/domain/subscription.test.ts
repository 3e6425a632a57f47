import { Types } from 'mongoose';
import { DomainError } from '../../../src/domain/errors';
import { parseSubscription, SUBSCRIPTION_REFUND_DEFAULTS } from '../../../src/domain/subscription';
import { at, fixedSubscriptionDoc, fixedSubscriptionDocWithout, MAX_UINT256_DIGITS, MAX_UINT256_LITERAL, USDC_ADDRESS, WALLET } from '../../support/fixtures';
import { thrownBy } from '../../support/thrown';

/** The error must be INVALID_SUBSCRIPTION and its message must lead with the offending field. */
function expectInvalidField(document: unknown, field: string): DomainError {
  const error = thrownBy(() => parseSubscription(document));
  expect(error).toBeInstanceOf(DomainError);
  const domainError = error as DomainError;
  expect(domainError.code).toBe('INVALID_SUBSCRIPTION');
  expect(domainError.message.startsWith(`subscription ${field} `)).toBe(true);
  return domainError;
}

describe('parseSubscription on a well-formed document', () => {
  test('returns the typed subscription with bigint money and real dates', () => {
    const document = fixedSubscriptionDoc();
    expect(parseSubscription(document)).toEqual({
      id: '65a1b2c3d4e5f60718293a4b',
      userId: 'user-1',
      creatorId: 'creator-1',
      userWalletAddress: WALLET,
      userEmail: 'user-1@example.com',
      amountPaid: 1_000_000_000_000_000_000n,
      currency: { symbol: 'ETH', decimals: 18, tokenAddress: null },
      startDate: at('2024-01-01T00:00:00.000Z'),
      endDate: at('2024-01-31T00:00:00.000Z'),
      status: 'active',
      cancelledAt: undefined,
      refundEligible: true,
      refundWindowDays: 30,
      isRefundApplied: false,
    });
  });

  test('takes the id from a mongoose ObjectId as its 24-hex string', () => {
    const id = new Types.ObjectId();
    expect(parseSubscription(fixedSubscriptionDoc({ _id: id })).id).toBe(id.toHexString());
  });

  test('accepts an _id that is already a 24-hex string', () => {
    expect(parseSubscription(fixedSubscriptionDoc({ _id: '0123456789abcdef01234567' })).id).toBe('0123456789abcdef01234567');
  });

  test('reads a date string without a UTC offset as UTC, whatever the server\'s time zone', () => {
    const parsed = parseSubscription(fixedSubscriptionDoc({ startDate: '2024-01-01T00:00:00', endDate: '2024-01-31 12:30', cancelledAt: '2024-01-10T08:00:00.250' }));
    expect(parsed.startDate).toEqual(at('2024-01-01T00:00:00.000Z'));
    expect(parsed.endDate).toEqual(at('2024-01-31T12:30:00.000Z'));
    expect(parsed.cancelledAt).toEqual(at('2024-01-10T08:00:00.250Z'));
    expect(parseSubscription(fixedSubscriptionDoc({ startDate: '2024-01-01T02:00:00+02:00' })).startDate).toEqual(at('2024-01-01T00:00:00.000Z'));
  });

  test('keeps amounts up to 2^256 - 1 exact', () => {
    expect(parseSubscription(fixedSubscriptionDoc({ amountPaid: MAX_UINT256_DIGITS })).amountPaid).toBe(MAX_UINT256_LITERAL);
    expect(parseSubscription(fixedSubscriptionDoc({ amountPaid: '1' })).amountPaid).toBe(1n);
    expect(parseSubscription(fixedSubscriptionDoc({ amountPaid: '0' })).amountPaid).toBe(0n);
  });

  test('reads an ERC-20 currency with its token address', () => {
    const currency = { symbol: 'USDC', decimals: 6, tokenAddress: USDC_ADDRESS };
    expect(parseSubscription(fixedSubscriptionDoc({ currency, amountPaid: '10000000' }))).toMatchObject({ currency, amountPaid: 10_000_000n });
  });

  test.each(['active', 'cancelled', 'expired'])('accepts the status %p', (status) => {
    expect(parseSubscription(fixedSubscriptionDoc({ status })).status).toBe(status);
  });

  test('keeps cancelledAt when the document has one', () => {
    const cancelledAt = at('2024-01-10T12:00:00.000Z');
    expect(parseSubscription(fixedSubscriptionDoc({ status: 'cancelled', cancelledAt })).cancelledAt).toEqual(cancelledAt);
  });

  test.each([
    ['absent', undefined],
    ['null', null],
  ])('leaves cancelledAt undefined when it is %s', (_label, cancelledAt) => {
    expect(parseSubscription(fixedSubscriptionDoc({ cancelledAt })).cancelledAt).toBeUndefined();
  });

  test('accepts ISO date strings, as a system inserting JSON would write them', () => {
    const parsed = parseSubscription(
      fixedSubscriptionDoc({ startDate: '2024-01-01T00:00:00.000Z', endDate: '2024-02-01T00:00:00.000Z', cancelledAt: '2024-01-05T00:00:00Z' }),
    );
    expect(parsed.startDate).toEqual(at('2024-01-01T00:00:00.000Z'));
    expect(parsed.endDate).toEqual(at('2024-02-01T00:00:00.000Z'));
    expect(parsed.cancelledAt).toEqual(at('2024-01-05T00:00:00.000Z'));
  });

  test('accepts a period of a single millisecond', () => {
    const parsed = parseSubscription(fixedSubscriptionDoc({ startDate: at('2024-01-01T00:00:00.000Z'), endDate: at('2024-01-01T00:00:00.001Z') }));
    expect(parsed.endDate.getTime() - parsed.startDate.getTime()).toBe(1);
  });

  test('treats an empty or missing userEmail as no email', () => {
    expect(parseSubscription(fixedSubscriptionDoc({ userEmail: '' })).userEmail).toBeUndefined();
    expect(parseSubscription(fixedSubscriptionDocWithout('userEmail')).userEmail).toBeUndefined();
  });
});

describe('parseSubscription refund defaults', () => {
  test('are the ones the migration backfills', () => {
    expect(SUBSCRIPTION_REFUND_DEFAULTS).toEqual({ refundEligible: true, refundWindowDays: 30, isRefundApplied: false });
  });

  test('apply when the three refund fields are missing', () => {
    const parsed = parseSubscription(fixedSubscriptionDocWithout('refundEligible', 'refundWindowDays', 'isRefundApplied'));
    expect(parsed).toMatchObject({ refundEligible: true, refundWindowDays: 30, isRefundApplied: false });
  });

  test('apply when the three refund fields are null', () => {
    const parsed = parseSubscription(fixedSubscriptionDoc({ refundEligible: null, refundWindowDays: null, isRefundApplied: null }));
    expect(parsed).toMatchObject({ refundEligible: true, refundWindowDays: 30, isRefundApplied: false });
  });

  test('do not override values the document sets, including falsy ones', () => {
    const parsed = parseSubscription(fixedSubscriptionDoc({ refundEligible: false, refundWindowDays: 0, isRefundApplied: true }));
    expect(parsed).toMatchObject({ refundEligible: false, refundWindowDays: 0, isRefundApplied: true });
  });

  test('allow a fractional refund window', () => {
    expect(parseSubscription(fixedSubscriptionDoc({ refundWindowDays: 0.5 })).refundWindowDays).toBe(0.5);
  });
});

describe('parseSubscription on a malformed document', () => {
  test.each([
    ['null', null],
    ['a string', '65a1b2c3d4e5f60718293a4b'],
    ['a number', 42],
    ['undefined', undefined],
  ])('rejects a document that is %s', (_label, document) => {
    expectInvalidField(document, 'document');
  });

  test.each<[string, string, Record<string, unknown>]>([
    // _id
    ['_id', 'missing', fixedSubscriptionDocWithout('_id')],
    ['_id', 'too short (23 hex)', fixedSubscriptionDoc({ _id: '0123456789abcdef0123456' })],
    ['_id', 'too long (25 hex)', fixedSubscriptionDoc({ _id: '0123456789abcdef012345678' })],
    ['_id', 'not hex', fixedSubscriptionDoc({ _id: 'zzzzzzzzzzzzzzzzzzzzzzzz' })],
    ['_id', 'a number', fixedSubscriptionDoc({ _id: 12345 })],
    ['_id', 'a plain object', fixedSubscriptionDoc({ _id: { id: '0123456789abcdef01234567' } })],
    // dates
    ['startDate', 'missing', fixedSubscriptionDocWithout('startDate')],
    ['startDate', 'an invalid Date', fixedSubscriptionDoc({ startDate: new Date('nope') })],
    ['startDate', 'a non-date string', fixedSubscriptionDoc({ startDate: 'yesterday-ish' })],
    ['startDate', 'epoch milliseconds as a number', fixedSubscriptionDoc({ startDate: 1_704_067_200_000 })],
    ['endDate', 'missing', fixedSubscriptionDocWithout('endDate')],
    ['endDate', 'an invalid Date', fixedSubscriptionDoc({ endDate: new Date('nope') })],
    ['endDate', 'equal to startDate', fixedSubscriptionDoc({ endDate: at('2024-01-01T00:00:00.000Z') })],
    ['endDate', 'before startDate', fixedSubscriptionDoc({ endDate: at('2023-12-31T23:59:59.999Z') })],
    ['cancelledAt', 'an invalid Date', fixedSubscriptionDoc({ cancelledAt: new Date('nope') })],
    ['cancelledAt', 'a non-date string', fixedSubscriptionDoc({ cancelledAt: 'soon' })],
    ['cancelledAt', 'a number', fixedSubscriptionDoc({ cancelledAt: 1_704_067_200_000 })],
    ['cancelledAt', 'a date in words, read differently by different runtimes', fixedSubscriptionDoc({ cancelledAt: 'Jan 10 2024 08:00' })],
    // status
    ['status', 'missing', fixedSubscriptionDocWithout('status')],
    ['status', 'unknown', fixedSubscriptionDoc({ status: 'paused' })],
    ['status', 'in the wrong case', fixedSubscriptionDoc({ status: 'ACTIVE' })],
    // wallet
    ['userWalletAddress', 'missing', fixedSubscriptionDocWithout('userWalletAddress')],
    ['userWalletAddress', 'too short', fixedSubscriptionDoc({ userWalletAddress: '0x1234' })],
    ['userWalletAddress', 'without the 0x prefix', fixedSubscriptionDoc({ userWalletAddress: WALLET.slice(2) })],
    ['userWalletAddress', 'one hex digit too long', fixedSubscriptionDoc({ userWalletAddress: WALLET + 'a' })],
    ['userWalletAddress', 'not hex', fixedSubscriptionDoc({ userWalletAddress: '0x' + 'z'.repeat(40) })],
    ['userWalletAddress', 'an ENS name', fixedSubscriptionDoc({ userWalletAddress: 'vitalik.eth' })],
    ['userWalletAddress', 'a number', fixedSubscriptionDoc({ userWalletAddress: 0x1234 })],
    // refund window
    ['refundWindowDays', 'negative', fixedSubscriptionDoc({ refundWindowDays: -1 })],
    ['refundWindowDays', 'a string', fixedSubscriptionDoc({ refundWindowDays: '30' })],
    ['refundWindowDays', 'NaN', fixedSubscriptionDoc({ refundWindowDays: Number.NaN })],
    ['refundWindowDays', 'Infinity', fixedSubscriptionDoc({ refundWindowDays: Number.POSITIVE_INFINITY })],
    // money
    ['amountPaid', 'missing', fixedSubscriptionDocWithout('amountPaid')],
    ['amountPaid', 'a number', fixedSubscriptionDoc({ amountPaid: 1e18 })],
    ['amountPaid', 'a small number', fixedSubscriptionDoc({ amountPaid: 1000 })],
    ['amountPaid', 'a bigint', fixedSubscriptionDoc({ amountPaid: 1000n })],
    ['amountPaid', 'a decimal string', fixedSubscriptionDoc({ amountPaid: '1.5' })],
    ['amountPaid', 'an exponent string', fixedSubscriptionDoc({ amountPaid: '1e18' })],
    ['amountPaid', 'negative', fixedSubscriptionDoc({ amountPaid: '-1' })],
    ['amountPaid', 'the empty string', fixedSubscriptionDoc({ amountPaid: '' })],
    ['amountPaid', '2^256', fixedSubscriptionDoc({ amountPaid: (MAX_UINT256_LITERAL + 1n).toString() })],
    ['amountPaid', '79 digits', fixedSubscriptionDoc({ amountPaid: '1' + '0'.repeat(78) })],
    ['currency', 'missing', fixedSubscriptionDocWithout('currency')],
    ['currency', 'a bare symbol string', fixedSubscriptionDoc({ currency: 'ETH' })],
    ['currency.decimals', '-1', fixedSubscriptionDoc({ currency: { symbol: 'ETH', decimals: -1, tokenAddress: null } })],
    ['currency.decimals', '37', fixedSubscriptionDoc({ currency: { symbol: 'ETH', decimals: 37, tokenAddress: null } })],
    ['currency.decimals', '1.5', fixedSubscriptionDoc({ currency: { symbol: 'ETH', decimals: 1.5, tokenAddress: null } })],
    ['currency.symbol', 'empty', fixedSubscriptionDoc({ currency: { symbol: '', decimals: 18, tokenAddress: null } })],
    ['currency.tokenAddress', 'not an address', fixedSubscriptionDoc({ currency: { symbol: 'USDC', decimals: 6, tokenAddress: 'usdc' } })],
    // people
    ['userId', 'missing', fixedSubscriptionDocWithout('userId')],
    ['userId', 'empty', fixedSubscriptionDoc({ userId: '' })],
    ['userId', 'a number', fixedSubscriptionDoc({ userId: 42 })],
    ['creatorId', 'missing', fixedSubscriptionDocWithout('creatorId')],
    ['creatorId', 'an ObjectId instead of a string', fixedSubscriptionDoc({ creatorId: new Types.ObjectId() })],
    ['userEmail', 'a number', fixedSubscriptionDoc({ userEmail: 42 })],
    // refund flags
    ['refundEligible', 'the string "true"', fixedSubscriptionDoc({ refundEligible: 'true' })],
    ['refundEligible', 'the number 1', fixedSubscriptionDoc({ refundEligible: 1 })],
    ['isRefundApplied', 'the string "false"', fixedSubscriptionDoc({ isRefundApplied: 'false' })],
    ['isRefundApplied', 'the number 0', fixedSubscriptionDoc({ isRefundApplied: 0 })],
  ])('names %s when it is %s', (field, _label, document) => {
    expectInvalidField(document, field);
  });

  test('says which rule a nested money error broke, for the API to report', () => {
    const error = expectInvalidField(fixedSubscriptionDoc({ amountPaid: 1e18 }), 'amountPaid');
    expect(error.details).toEqual({ cause: 'INVALID_AMOUNT' });
    const currencyError = expectInvalidField(fixedSubscriptionDoc({ currency: null }), 'currency');
    expect(currencyError.details).toEqual({ cause: 'INVALID_CURRENCY' });
  });

  test('puts the field in the details of a field-level error', () => {
    expect(expectInvalidField(fixedSubscriptionDoc({ status: 'paused' }), 'status').details).toEqual({ field: 'status' });
    expect(expectInvalidField(fixedSubscriptionDoc({ refundWindowDays: -1 }), 'refundWindowDays').details).toEqual({ field: 'refundWindowDays' });
  });
});
