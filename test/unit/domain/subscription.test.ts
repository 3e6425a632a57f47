import { Types } from 'mongoose';
import { DomainError } from '../../../src/domain/errors';
import { parseSubscription, SUBSCRIPTION_REFUND_DEFAULTS } from '../../../src/domain/subscription';
import {
  at,
  MAX_UINT256_DIGITS,
  MAX_UINT256_LITERAL,
  subscriptionDocument,
  subscriptionDocumentWithout,
  thrownBy,
  USDC_ADDRESS,
  WALLET,
} from './fixtures';

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
    const document = subscriptionDocument();
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
    expect(parseSubscription(subscriptionDocument({ _id: id })).id).toBe(id.toHexString());
  });

  test('accepts an _id that is already a 24-hex string', () => {
    expect(parseSubscription(subscriptionDocument({ _id: '0123456789abcdef01234567' })).id).toBe('0123456789abcdef01234567');
  });

  test('reads a date string without a UTC offset as UTC, whatever the server\'s time zone', () => {
    const parsed = parseSubscription(subscriptionDocument({ startDate: '2024-01-01T00:00:00', endDate: '2024-01-31 12:30', cancelledAt: '2024-01-10T08:00:00.250' }));
    expect(parsed.startDate).toEqual(at('2024-01-01T00:00:00.000Z'));
    expect(parsed.endDate).toEqual(at('2024-01-31T12:30:00.000Z'));
    expect(parsed.cancelledAt).toEqual(at('2024-01-10T08:00:00.250Z'));
    expect(parseSubscription(subscriptionDocument({ startDate: '2024-01-01T02:00:00+02:00' })).startDate).toEqual(at('2024-01-01T00:00:00.000Z'));
  });

  test('keeps amounts up to 2^256 - 1 exact', () => {
    expect(parseSubscription(subscriptionDocument({ amountPaid: MAX_UINT256_DIGITS })).amountPaid).toBe(MAX_UINT256_LITERAL);
    expect(parseSubscription(subscriptionDocument({ amountPaid: '1' })).amountPaid).toBe(1n);
    expect(parseSubscription(subscriptionDocument({ amountPaid: '0' })).amountPaid).toBe(0n);
  });

  test('reads an ERC-20 currency with its token address', () => {
    const currency = { symbol: 'USDC', decimals: 6, tokenAddress: USDC_ADDRESS };
    expect(parseSubscription(subscriptionDocument({ currency, amountPaid: '10000000' }))).toMatchObject({ currency, amountPaid: 10_000_000n });
  });

  test.each(['active', 'cancelled', 'expired'])('accepts the status %p', (status) => {
    expect(parseSubscription(subscriptionDocument({ status })).status).toBe(status);
  });

  test('keeps cancelledAt when the document has one', () => {
    const cancelledAt = at('2024-01-10T12:00:00.000Z');
    expect(parseSubscription(subscriptionDocument({ status: 'cancelled', cancelledAt })).cancelledAt).toEqual(cancelledAt);
  });

  test.each([
    ['absent', undefined],
    ['null', null],
  ])('leaves cancelledAt undefined when it is %s', (_label, cancelledAt) => {
    expect(parseSubscription(subscriptionDocument({ cancelledAt })).cancelledAt).toBeUndefined();
  });

  test('accepts ISO date strings, as a system inserting JSON would write them', () => {
    const parsed = parseSubscription(
      subscriptionDocument({ startDate: '2024-01-01T00:00:00.000Z', endDate: '2024-02-01T00:00:00.000Z', cancelledAt: '2024-01-05T00:00:00Z' }),
    );
    expect(parsed.startDate).toEqual(at('2024-01-01T00:00:00.000Z'));
    expect(parsed.endDate).toEqual(at('2024-02-01T00:00:00.000Z'));
    expect(parsed.cancelledAt).toEqual(at('2024-01-05T00:00:00.000Z'));
  });

  test('accepts a period of a single millisecond', () => {
    const parsed = parseSubscription(subscriptionDocument({ startDate: at('2024-01-01T00:00:00.000Z'), endDate: at('2024-01-01T00:00:00.001Z') }));
    expect(parsed.endDate.getTime() - parsed.startDate.getTime()).toBe(1);
  });

  test('treats an empty or missing userEmail as no email', () => {
    expect(parseSubscription(subscriptionDocument({ userEmail: '' })).userEmail).toBeUndefined();
    expect(parseSubscription(subscriptionDocumentWithout('userEmail')).userEmail).toBeUndefined();
  });
});

describe('parseSubscription refund defaults', () => {
  test('are the ones the migration backfills', () => {
    expect(SUBSCRIPTION_REFUND_DEFAULTS).toEqual({ refundEligible: true, refundWindowDays: 30, isRefundApplied: false });
  });

  test('apply when the three refund fields are missing', () => {
    const parsed = parseSubscription(subscriptionDocumentWithout('refundEligible', 'refundWindowDays', 'isRefundApplied'));
    expect(parsed).toMatchObject({ refundEligible: true, refundWindowDays: 30, isRefundApplied: false });
  });

  test('apply when the three refund fields are null', () => {
    const parsed = parseSubscription(subscriptionDocument({ refundEligible: null, refundWindowDays: null, isRefundApplied: null }));
    expect(parsed).toMatchObject({ refundEligible: true, refundWindowDays: 30, isRefundApplied: false });
  });

  test('do not override values the document sets, including falsy ones', () => {
    const parsed = parseSubscription(subscriptionDocument({ refundEligible: false, refundWindowDays: 0, isRefundApplied: true }));
    expect(parsed).toMatchObject({ refundEligible: false, refundWindowDays: 0, isRefundApplied: true });
  });

  test('allow a fractional refund window', () => {
    expect(parseSubscription(subscriptionDocument({ refundWindowDays: 0.5 })).refundWindowDays).toBe(0.5);
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
    ['_id', 'missing', subscriptionDocumentWithout('_id')],
    ['_id', 'too short (23 hex)', subscriptionDocument({ _id: '0123456789abcdef0123456' })],
    ['_id', 'too long (25 hex)', subscriptionDocument({ _id: '0123456789abcdef012345678' })],
    ['_id', 'not hex', subscriptionDocument({ _id: 'zzzzzzzzzzzzzzzzzzzzzzzz' })],
    ['_id', 'a number', subscriptionDocument({ _id: 12345 })],
    ['_id', 'a plain object', subscriptionDocument({ _id: { id: '0123456789abcdef01234567' } })],
    // dates
    ['startDate', 'missing', subscriptionDocumentWithout('startDate')],
    ['startDate', 'an invalid Date', subscriptionDocument({ startDate: new Date('nope') })],
    ['startDate', 'a non-date string', subscriptionDocument({ startDate: 'yesterday-ish' })],
    ['startDate', 'epoch milliseconds as a number', subscriptionDocument({ startDate: 1_704_067_200_000 })],
    ['endDate', 'missing', subscriptionDocumentWithout('endDate')],
    ['endDate', 'an invalid Date', subscriptionDocument({ endDate: new Date('nope') })],
    ['endDate', 'equal to startDate', subscriptionDocument({ endDate: at('2024-01-01T00:00:00.000Z') })],
    ['endDate', 'before startDate', subscriptionDocument({ endDate: at('2023-12-31T23:59:59.999Z') })],
    ['cancelledAt', 'an invalid Date', subscriptionDocument({ cancelledAt: new Date('nope') })],
    ['cancelledAt', 'a non-date string', subscriptionDocument({ cancelledAt: 'soon' })],
    ['cancelledAt', 'a number', subscriptionDocument({ cancelledAt: 1_704_067_200_000 })],
    ['cancelledAt', 'a date in words, read differently by different runtimes', subscriptionDocument({ cancelledAt: 'Jan 10 2024 08:00' })],
    // status
    ['status', 'missing', subscriptionDocumentWithout('status')],
    ['status', 'unknown', subscriptionDocument({ status: 'paused' })],
    ['status', 'in the wrong case', subscriptionDocument({ status: 'ACTIVE' })],
    // wallet
    ['userWalletAddress', 'missing', subscriptionDocumentWithout('userWalletAddress')],
    ['userWalletAddress', 'too short', subscriptionDocument({ userWalletAddress: '0x1234' })],
    ['userWalletAddress', 'without the 0x prefix', subscriptionDocument({ userWalletAddress: WALLET.slice(2) })],
    ['userWalletAddress', 'one hex digit too long', subscriptionDocument({ userWalletAddress: WALLET + 'a' })],
    ['userWalletAddress', 'not hex', subscriptionDocument({ userWalletAddress: '0x' + 'z'.repeat(40) })],
    ['userWalletAddress', 'an ENS name', subscriptionDocument({ userWalletAddress: 'vitalik.eth' })],
    ['userWalletAddress', 'a number', subscriptionDocument({ userWalletAddress: 0x1234 })],
    // refund window
    ['refundWindowDays', 'negative', subscriptionDocument({ refundWindowDays: -1 })],
    ['refundWindowDays', 'a string', subscriptionDocument({ refundWindowDays: '30' })],
    ['refundWindowDays', 'NaN', subscriptionDocument({ refundWindowDays: Number.NaN })],
    ['refundWindowDays', 'Infinity', subscriptionDocument({ refundWindowDays: Number.POSITIVE_INFINITY })],
    // money
    ['amountPaid', 'missing', subscriptionDocumentWithout('amountPaid')],
    ['amountPaid', 'a number', subscriptionDocument({ amountPaid: 1e18 })],
    ['amountPaid', 'a small number', subscriptionDocument({ amountPaid: 1000 })],
    ['amountPaid', 'a bigint', subscriptionDocument({ amountPaid: 1000n })],
    ['amountPaid', 'a decimal string', subscriptionDocument({ amountPaid: '1.5' })],
    ['amountPaid', 'an exponent string', subscriptionDocument({ amountPaid: '1e18' })],
    ['amountPaid', 'negative', subscriptionDocument({ amountPaid: '-1' })],
    ['amountPaid', 'the empty string', subscriptionDocument({ amountPaid: '' })],
    ['amountPaid', '2^256', subscriptionDocument({ amountPaid: (MAX_UINT256_LITERAL + 1n).toString() })],
    ['amountPaid', '79 digits', subscriptionDocument({ amountPaid: '1' + '0'.repeat(78) })],
    ['currency', 'missing', subscriptionDocumentWithout('currency')],
    ['currency', 'a bare symbol string', subscriptionDocument({ currency: 'ETH' })],
    ['currency.decimals', '-1', subscriptionDocument({ currency: { symbol: 'ETH', decimals: -1, tokenAddress: null } })],
    ['currency.decimals', '37', subscriptionDocument({ currency: { symbol: 'ETH', decimals: 37, tokenAddress: null } })],
    ['currency.decimals', '1.5', subscriptionDocument({ currency: { symbol: 'ETH', decimals: 1.5, tokenAddress: null } })],
    ['currency.symbol', 'empty', subscriptionDocument({ currency: { symbol: '', decimals: 18, tokenAddress: null } })],
    ['currency.tokenAddress', 'not an address', subscriptionDocument({ currency: { symbol: 'USDC', decimals: 6, tokenAddress: 'usdc' } })],
    // people
    ['userId', 'missing', subscriptionDocumentWithout('userId')],
    ['userId', 'empty', subscriptionDocument({ userId: '' })],
    ['userId', 'a number', subscriptionDocument({ userId: 42 })],
    ['creatorId', 'missing', subscriptionDocumentWithout('creatorId')],
    ['creatorId', 'an ObjectId instead of a string', subscriptionDocument({ creatorId: new Types.ObjectId() })],
    ['userEmail', 'a number', subscriptionDocument({ userEmail: 42 })],
    // refund flags
    ['refundEligible', 'the string "true"', subscriptionDocument({ refundEligible: 'true' })],
    ['refundEligible', 'the number 1', subscriptionDocument({ refundEligible: 1 })],
    ['isRefundApplied', 'the string "false"', subscriptionDocument({ isRefundApplied: 'false' })],
    ['isRefundApplied', 'the number 0', subscriptionDocument({ isRefundApplied: 0 })],
  ])('names %s when it is %s', (field, _label, document) => {
    expectInvalidField(document, field);
  });

  test('says which rule a nested money error broke, for the API to report', () => {
    const error = expectInvalidField(subscriptionDocument({ amountPaid: 1e18 }), 'amountPaid');
    expect(error.details).toEqual({ cause: 'INVALID_AMOUNT' });
    const currencyError = expectInvalidField(subscriptionDocument({ currency: null }), 'currency');
    expect(currencyError.details).toEqual({ cause: 'INVALID_CURRENCY' });
  });

  test('puts the field in the details of a field-level error', () => {
    expect(expectInvalidField(subscriptionDocument({ status: 'paused' }), 'status').details).toEqual({ field: 'status' });
    expect(expectInvalidField(subscriptionDocument({ refundWindowDays: -1 }), 'refundWindowDays').details).toEqual({ field: 'refundWindowDays' });
  });
});
