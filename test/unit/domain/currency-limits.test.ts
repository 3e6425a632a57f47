import { parseDecimalAmount } from '../../../src/domain/amount';
import { limitFor, parseCurrencyLimits } from '../../../src/domain/currency-limits';
import { DomainError } from '../../../src/domain/errors';

const USDC = { symbol: 'USDC', decimals: 6, tokenAddress: '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48' };
const ETH = { symbol: 'ETH', decimals: 18, tokenAddress: null };

describe('amounts people write, in a currency\'s smallest unit', () => {
  test('parses exactly', () => {
    expect(parseDecimalAmount('1.5', 18)).toBe(1_500_000_000_000_000_000n);
    expect(parseDecimalAmount('2500', 6)).toBe(2_500_000_000n);
    expect(parseDecimalAmount('0.000001', 6)).toBe(1n);
  });

  test('refuses what it cannot represent exactly', () => {
    for (const [text, decimals] of [['0.0000001', 6], ['1e3', 18], ['-1', 18], ['1.', 18], ['', 18]] as const) {
      expect(() => parseDecimalAmount(text, decimals)).toThrow(DomainError);
    }
  });
});

describe('per-currency limits (PAYOUT_MAX_AMOUNT, PAYOUT_DAILY_LIMIT, TREASURY_LOW_BALANCE)', () => {
  test('SYMBOL=amount and 0xTOKEN=amount, comma-separated, spaces allowed', () => {
    expect(parseCurrencyLimits(' eth=1.5, 0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48 = 2500 ,')).toEqual([
      { key: 'ETH', amount: '1.5' },
      { key: '0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48', amount: '2500' },
    ]);
    expect(parseCurrencyLimits(undefined)).toEqual([]);
    expect(parseCurrencyLimits('')).toEqual([]);
  });

  test('refuses a malformed or repeated entry', () => {
    expect(() => parseCurrencyLimits('ETH')).toThrow(/SYMBOL=amount/);
    expect(() => parseCurrencyLimits('ETH=-1')).toThrow();
    expect(() => parseCurrencyLimits('ETH=1,eth=2')).toThrow(/given twice/);
  });

  test('a token address wins over a symbol; digits finer than the token are cut, never rounded up', () => {
    const limits = parseCurrencyLimits('USDC=10,0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48=2500.1234567,ETH=0.5');
    expect(limitFor(limits, USDC)).toBe(2_500_123_456n);
    expect(limitFor(limits, { ...USDC, tokenAddress: '0x0000000000000000000000000000000000000001' })).toBe(10_000_000n);
    expect(limitFor(limits, ETH)).toBe(500_000_000_000_000_000n);
    expect(limitFor(limits, { symbol: 'DAI', decimals: 18, tokenAddress: null })).toBeNull();
  });
});
