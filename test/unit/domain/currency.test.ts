import { assetKey, currencyKey, parseCurrency } from '../../../src/domain/currency';
import { DomainError } from '../../../src/domain/errors';
import { USDC_ADDRESS } from '../../support/fixtures';
import { thrownBy } from '../../support/thrown';

function expectInvalidCurrency(value: unknown, mentions: string): void {
  const error = thrownBy(() => parseCurrency(value));
  expect(error).toBeInstanceOf(DomainError);
  expect((error as DomainError).code).toBe('INVALID_CURRENCY');
  expect((error as DomainError).message).toContain(mentions);
}

describe('parseCurrency', () => {
  test('reads the native coin, whose tokenAddress is null', () => {
    expect(parseCurrency({ symbol: 'ETH', decimals: 18, tokenAddress: null })).toEqual({ symbol: 'ETH', decimals: 18, tokenAddress: null });
  });

  test('reads an ERC-20 token with its contract address', () => {
    expect(parseCurrency({ symbol: 'USDC', decimals: 6, tokenAddress: USDC_ADDRESS })).toEqual({
      symbol: 'USDC',
      decimals: 6,
      tokenAddress: USDC_ADDRESS,
    });
  });

  test('treats a missing tokenAddress as the native coin', () => {
    expect(parseCurrency({ symbol: 'ETH', decimals: 18 }).tokenAddress).toBeNull();
  });

  test.each([0, 1, 6, 8, 18, 35, 36])('accepts %p decimals', (decimals) => {
    expect(parseCurrency({ symbol: 'TKN', decimals, tokenAddress: null }).decimals).toBe(decimals);
  });

  test.each([
    ['-1', -1],
    ['37', 37],
    ['1.5', 1.5],
    ['a string', '18'],
    ['missing', undefined],
  ])('rejects decimals that are %s', (_label, decimals) => {
    expectInvalidCurrency({ symbol: 'TKN', decimals, tokenAddress: null }, 'currency.decimals');
  });

  test.each([
    ['empty', ''],
    ['longer than 16 characters', 'ABCDEFGHIJKLMNOPQ'],
    ['containing a space', 'US DC'],
    ['not a string', 42],
    ['missing', undefined],
  ])('rejects a symbol that is %s', (_label, symbol) => {
    expectInvalidCurrency({ symbol, decimals: 18, tokenAddress: null }, 'currency.symbol');
  });

  test.each([
    ['too short', '0x1234'],
    ['without the 0x prefix', USDC_ADDRESS.slice(2)],
    ['with a non-hex character', '0x' + 'g'.repeat(40)],
    ['one hex digit too long', USDC_ADDRESS + '0'],
    ['not a string', 1234],
    ['the empty string', ''],
  ])('rejects a tokenAddress that is %s', (_label, tokenAddress) => {
    expectInvalidCurrency({ symbol: 'USDC', decimals: 6, tokenAddress }, 'currency.tokenAddress');
  });

  test.each([
    ['null', null],
    ['a string', 'ETH'],
    ['a number', 18],
  ])('rejects a currency that is %s', (_label, value) => {
    expectInvalidCurrency(value, 'currency');
  });
});

describe('currencyKey', () => {
  test('is the symbol alone for the native coin', () => {
    expect(currencyKey({ symbol: 'ETH', decimals: 18, tokenAddress: null })).toBe('ETH');
  });

  test('adds the lower-cased contract address for a token, so tokens sharing a symbol stay apart', () => {
    const usdc = { symbol: 'USDC', decimals: 6, tokenAddress: USDC_ADDRESS };
    const impostor = { symbol: 'USDC', decimals: 6, tokenAddress: '0x' + '1'.repeat(40) };
    expect(currencyKey(usdc)).toBe('USDC:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48');
    expect(currencyKey(impostor)).not.toBe(currencyKey(usdc));
  });

  test('does not depend on the letter case of the address', () => {
    const mixed = { symbol: 'USDC', decimals: 6, tokenAddress: USDC_ADDRESS };
    const lower = { ...mixed, tokenAddress: USDC_ADDRESS.toLowerCase() };
    expect(currencyKey(mixed)).toBe(currencyKey(lower));
  });
});

describe('assetKey', () => {
  test('is the coin or token itself, whatever the symbol is spelled as', () => {
    expect(assetKey({ tokenAddress: null })).toBe('native');
    const eth = { symbol: 'ETH', decimals: 18, tokenAddress: null };
    const spelledOtherwise = { ...eth, symbol: 'eth' };
    expect(assetKey(spelledOtherwise)).toBe(assetKey(eth));
    expect(assetKey({ tokenAddress: USDC_ADDRESS })).toBe(USDC_ADDRESS.toLowerCase());
    expect(assetKey({ tokenAddress: '0x' + '1'.repeat(40) })).not.toBe(assetKey({ tokenAddress: USDC_ADDRESS }));
  });
});
