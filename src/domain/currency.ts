import { assertDecimals } from './amount';
import { DomainError } from './errors';

export interface Currency {
  symbol: string;
  decimals: number;
  /** null for the chain's native coin, else the ERC-20 contract address. */
  tokenAddress: string | null;
}

export const ADDRESS_PATTERN = /^0x[0-9a-fA-F]{40}$/;

export function parseCurrency(value: unknown): Currency {
  if (typeof value !== 'object' || value === null) throw new DomainError('INVALID_CURRENCY', 'currency must be an object');
  const { symbol, decimals, tokenAddress } = value as Record<string, unknown>;
  if (typeof symbol !== 'string' || !/^[A-Za-z0-9.$_-]{1,16}$/.test(symbol)) {
    throw new DomainError('INVALID_CURRENCY', 'currency.symbol must be 1-16 letters, digits or . $ _ -');
  }
  if (tokenAddress !== null && tokenAddress !== undefined && (typeof tokenAddress !== 'string' || !ADDRESS_PATTERN.test(tokenAddress))) {
    throw new DomainError('INVALID_CURRENCY', 'currency.tokenAddress must be null or a 0x-prefixed 20-byte hex address');
  }
  return { symbol, decimals: assertDecimals(decimals), tokenAddress: (tokenAddress as string | null | undefined) ?? null };
}

/**
 * The coin or token itself, whatever symbol a subscription gives it: `native`
 * for the chain's coin, else the lower-cased contract address. What limits and
 * alerts about the treasury count by (`ETH` and `eth` are one coin).
 */
export function assetKey(currency: Pick<Currency, 'tokenAddress'>): string {
  return currency.tokenAddress ? currency.tokenAddress.toLowerCase() : 'native';
}

/** Keys the low-balance alert about paying gas at all (filling a nonce) where `assetKey` keys a currency's. */
export const GAS_ALERT_ASSET = 'gas';

/** A stable key for grouping totals: the symbol plus the token contract (two tokens may share a symbol). */
export function currencyKey(currency: Currency): string {
  return currency.tokenAddress ? `${currency.symbol}:${currency.tokenAddress.toLowerCase()}` : currency.symbol;
}
