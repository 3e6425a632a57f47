import { parseDecimalAmount } from './amount';
import type { Currency } from './currency';
import { DomainError } from './errors';

/**
 * Amounts configured per currency, as operators write them:
 * `ETH=1.5,USDC=2500` or `0xA0b8…eB48=2500` (a token address names one token
 * exactly where two share a symbol). Amounts are in whole units of the
 * currency; they become exact integers once the currency's decimals are known.
 */
export interface CurrencyLimit {
  /** An upper-cased symbol, or a lower-cased 0x token address. */
  key: string;
  /** The decimal text as written, e.g. "1.5". */
  amount: string;
}

const ENTRY = /^\s*([A-Za-z0-9.$_-]{1,16}|0x[0-9a-fA-F]{40})\s*=\s*([0-9]+(?:\.[0-9]+)?)\s*$/;

/** Parses `KEY=amount,...`; an empty string is "no limits". */
export function parseCurrencyLimits(text: string | undefined): CurrencyLimit[] {
  if (!text || text.trim() === '') return [];
  const limits: CurrencyLimit[] = [];
  for (const part of text.split(',')) {
    if (part.trim() === '') continue;
    const match = ENTRY.exec(part);
    if (!match) throw new DomainError('INVALID_AMOUNT', `"${part.trim()}" is not SYMBOL=amount or 0xTOKEN=amount`);
    const key = match[1]!.startsWith('0x') ? match[1]!.toLowerCase() : match[1]!.toUpperCase();
    if (limits.some((limit) => limit.key === key)) throw new DomainError('INVALID_AMOUNT', `${key} is given twice`);
    limits.push({ key, amount: match[2]! });
  }
  return limits;
}

/** The limit that applies to `currency` in its smallest unit, or null: a token address match wins over a symbol match. */
export function limitFor(limits: readonly CurrencyLimit[], currency: Currency): bigint | null {
  const byAddress = currency.tokenAddress ? limits.find((limit) => limit.key === currency.tokenAddress!.toLowerCase()) : undefined;
  const limit = byAddress ?? limits.find((limit) => limit.key === currency.symbol.toUpperCase());
  if (!limit) return null;
  // Digits finer than the token's smallest unit cannot be paid anyway: cut them (never round up a limit).
  const [whole = '0', fraction = ''] = limit.amount.split('.');
  const usable = fraction.slice(0, currency.decimals).replace(/0+$/, '');
  const units = BigInt(whole).toString();
  return parseDecimalAmount(usable ? `${units}.${usable}` : units, currency.decimals, `${limit.key} limit`);
}
