import fc from 'fast-check';
import { assertDecimals, formatAmount, MAX_AMOUNT_DIGITS, MAX_DECIMALS, MAX_UINT256, parseAmount } from '../../../src/domain/amount';
import { DomainError } from '../../../src/domain/errors';
import { MAX_UINT256_DIGITS, MAX_UINT256_LITERAL } from '../../support/fixtures';
import { thrownBy } from '../../support/thrown';

function expectDomainError(fn: () => unknown, code: string): DomainError {
  const error = thrownBy(fn);
  expect(error).toBeInstanceOf(DomainError);
  expect((error as DomainError).code).toBe(code);
  return error as DomainError;
}

describe('the uint256 bounds', () => {
  test('MAX_UINT256 is 2^256 - 1, a 78-digit number', () => {
    expect(MAX_UINT256).toBe(MAX_UINT256_LITERAL);
    expect(MAX_UINT256.toString()).toHaveLength(78);
    expect(MAX_AMOUNT_DIGITS).toBe(78);
    expect(MAX_DECIMALS).toBe(36);
  });
});

describe('parseAmount', () => {
  test.each([
    ['0', 0n],
    ['1', 1n],
    ['10', 10n],
    ['1000000', 1_000_000n], // 1 USDC in 6-decimal units
    ['1000000000000000000', 1_000_000_000_000_000_000n], // 1 ETH in wei
    ['1' + '0'.repeat(77), 10n ** 77n], // 78 digits, below 2^256 - 1 ≈ 1.16 × 10^77
    ['115792089237316195423570985008687907853269984665640564039457584007913129639934', MAX_UINT256_LITERAL - 1n],
    [MAX_UINT256_DIGITS, MAX_UINT256_LITERAL],
  ])('accepts the canonical integer string %j', (input, expected) => {
    expect(parseAmount(input)).toBe(expected);
  });

  test.each([
    ['the empty string', ''],
    ['a leading space', ' 1'],
    ['a trailing space', '1 '],
    ['a tab', '\t1'],
    ['a trailing newline', '1\n'],
    ['an inner space', '1 000'],
    ['a plus sign', '+1'],
    ['a minus sign', '-1'],
    ['negative zero', '-0'],
    ['an exponent', '1e18'],
    ['an upper-case exponent', '1E18'],
    ['a decimal point', '1.5'],
    ['a trailing .0', '1.0'],
    ['a bare fraction', '.5'],
    ['a leading zero', '01'],
    ['a double zero', '00'],
    ['a hex literal', '0x10'],
    ['digit separators', '1_000'],
    ['thousands commas', '1,000'],
    ['non-ASCII digits', '١٢٣'],
    ['full-width digits', '１２３'],
    ['Infinity', 'Infinity'],
    ['NaN', 'NaN'],
    // 2^256 = 115792089237316195423570985008687907853269984665640564039457584007913129639936
    ['2^256 (one above the maximum)', '115792089237316195423570985008687907853269984665640564039457584007913129639936'],
    ['2^256 + 1', '115792089237316195423570985008687907853269984665640564039457584007913129639937'],
    ['the largest 78-digit number', '9'.repeat(78)],
    ['79 digits', '1' + '0'.repeat(78)],
    ['MAX_UINT256 with a leading zero', '0' + MAX_UINT256_DIGITS],
  ])('rejects a string with %s', (_label, input) => {
    expectDomainError(() => parseAmount(input), 'INVALID_AMOUNT');
  });

  test.each([
    ['a number', 1],
    ['zero as a number', 0],
    ['a large number', 1e18],
    ['a bigint', 1n],
    ['null', null],
    ['undefined', undefined],
    ['an object', { value: '1' }],
    ['an array', ['1']],
    ['a boolean', true],
  ])('rejects %s: amounts travel as strings, never as JS numbers', (_label, input) => {
    expectDomainError(() => parseAmount(input), 'INVALID_AMOUNT');
  });

  test('names the field it was given in the error message', () => {
    const error = expectDomainError(() => parseAmount('1.5', 'amountPaid'), 'INVALID_AMOUNT');
    expect(error.message).toContain('amountPaid');
    expect(expectDomainError(() => parseAmount(7, 'amountPaid'), 'INVALID_AMOUNT').message).toContain('amountPaid');
    expect(expectDomainError(() => parseAmount('9'.repeat(78), 'amountPaid'), 'INVALID_AMOUNT').message).toContain('amountPaid');
  });

  test('round-trips every integer from 0 to 2^256 - 1 through its decimal string', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: MAX_UINT256_LITERAL }), (amount) => {
        expect(parseAmount(amount.toString())).toBe(amount);
      }),
      { numRuns: 3000 },
    );
  });

  test('rejects every integer above 2^256 - 1, even with 78 digits or fewer', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: MAX_UINT256_LITERAL + 1n, max: 10n ** 78n - 1n }), (amount) => {
        expectDomainError(() => parseAmount(amount.toString()), 'INVALID_AMOUNT');
      }),
      { numRuns: 2000 },
    );
  });

  test('accepts a string exactly when it is ASCII digits, without a leading zero, at most 2^256 - 1', () => {
    // An oracle written without regular expressions, to check the parser's pattern.
    const isCanonicalUint256 = (text: string): boolean => {
      if (text.length === 0 || text.length > 78) return false;
      for (const char of text) if (char < '0' || char > '9') return false;
      if (text.length > 1 && text[0] === '0') return false;
      return BigInt(text) <= MAX_UINT256_LITERAL;
    };
    const amountLike = fc.oneof(
      fc.string(),
      fc.stringMatching(/^[-+ .eE0-9]{0,6}$/),
      fc.stringMatching(/^0{0,2}[0-9]{0,80}$/),
      fc.bigInt({ min: 0n, max: MAX_UINT256_LITERAL * 2n }).map(String),
    );
    fc.assert(
      fc.property(amountLike, (text) => {
        let parsed: bigint | undefined;
        try {
          parsed = parseAmount(text);
        } catch (error) {
          expect(error).toBeInstanceOf(DomainError);
          expect((error as DomainError).code).toBe('INVALID_AMOUNT');
        }
        expect(parsed !== undefined).toBe(isCanonicalUint256(text));
        if (parsed !== undefined) expect(parsed.toString()).toBe(text);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('assertDecimals', () => {
  test('accepts every integer from 0 to 36', () => {
    for (let decimals = 0; decimals <= 36; decimals++) expect(assertDecimals(decimals)).toBe(decimals);
  });

  test.each([
    ['-1', -1],
    ['37', 37],
    ['1.5', 1.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['the string "18"', '18'],
    ['null', null],
    ['undefined', undefined],
    ['a bigint', 18n],
  ])('rejects %s as a number of decimals', (_label, decimals) => {
    const error = expectDomainError(() => assertDecimals(decimals), 'INVALID_CURRENCY');
    expect(error.message).toContain('currency.decimals');
  });

  test('names the field it was given', () => {
    expect(expectDomainError(() => assertDecimals(37, 'token.decimals'), 'INVALID_CURRENCY').message).toContain('token.decimals');
  });
});

describe('formatAmount', () => {
  test.each([
    // amount, decimals, expected human string
    [1_500_000_000_000_000_000n, 18, '1.5'], // 1.5 × 10^18 wei = 1.5 ETH
    [1_000_000_000_000_000_000n, 18, '1'], // exactly 1 ETH: no ".0"
    [1n, 18, '0.000000000000000001'], // 1 wei = 10^-18 ETH
    [10n, 18, '0.00000000000000001'], // 10 wei: trailing zero trimmed
    [0n, 18, '0'],
    [123_456_789_012_345_678_901n, 18, '123.456789012345678901'],
    [1_234_567n, 6, '1.234567'], // USDC: 6 decimals
    [1_000_000n, 6, '1'],
    [1n, 6, '0.000001'],
    [100n, 6, '0.0001'],
    [999_999n, 6, '0.999999'],
    [6_666_666n, 6, '6.666666'],
    [15n, 1, '1.5'],
    [10n, 1, '1'],
    [0n, 0, '0'],
    [123n, 0, '123'], // no decimals: the amount itself
    [1n, 36, '0.' + '0'.repeat(35) + '1'],
    [10n ** 36n, 36, '1'],
    [MAX_UINT256_LITERAL, 0, MAX_UINT256_DIGITS],
    // 78 digits; the last 18 go after the point
    [MAX_UINT256_LITERAL, 18, '115792089237316195423570985008687907853269984665640564039457.584007913129639935'],
    // 78 digits; the last 36 go after the point
    [MAX_UINT256_LITERAL, 36, '115792089237316195423570985008687907853269.984665640564039457584007913129639935'],
  ])('formats %p with %p decimals as %p', (amount, decimals, expected) => {
    expect(formatAmount(amount, decimals)).toBe(expected);
  });

  test('refuses a negative amount', () => {
    expectDomainError(() => formatAmount(-1n, 18), 'INVALID_AMOUNT');
  });

  test.each([-1, 37, 1.5])('refuses %p decimals', (decimals) => {
    expectDomainError(() => formatAmount(1n, decimals), 'INVALID_CURRENCY');
  });

  test('is exact: reading the human string back gives the same integer amount', () => {
    // Parses "123.45" with d decimals into 12345 × 10^(d-2) without using the code under test.
    const unitsOf = (text: string, decimals: number): bigint => {
      const [whole, fraction = ''] = text.split('.');
      return BigInt(whole) * 10n ** BigInt(decimals) + BigInt(fraction.padEnd(decimals, '0') || '0');
    };
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: MAX_UINT256_LITERAL }), fc.integer({ min: 0, max: 36 }), (amount, decimals) => {
        const text = formatAmount(amount, decimals);
        expect(text).toMatch(/^(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$/); // no leading zeros, no trailing fractional zeros
        const fraction = text.split('.')[1] ?? '';
        expect(fraction.length).toBeLessThanOrEqual(decimals);
        expect(unitsOf(text, decimals)).toBe(amount);
      }),
      { numRuns: 3000 },
    );
  });
});
