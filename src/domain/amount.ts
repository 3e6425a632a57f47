import { DomainError } from './errors';

/**
 * Money is an integer count of the token's smallest unit (wei for ETH), a
 * `bigint` in code and a decimal string on the wire. Nothing here touches floats.
 */

export const MAX_UINT256 = (1n << 256n) - 1n;
export const MAX_AMOUNT_DIGITS = 78;
export const MAX_DECIMALS = 36;

const CANONICAL_INTEGER = /^(0|[1-9][0-9]*)$/;

/** Parses a canonical non-negative integer string: no sign, exponent, decimals, spaces or leading zeros. */
export function parseAmount(value: unknown, field = 'amount'): bigint {
  if (typeof value !== 'string') {
    throw new DomainError('INVALID_AMOUNT', `${field} must be an integer string in the smallest unit, got ${typeof value}`);
  }
  if (value.length > MAX_AMOUNT_DIGITS) {
    throw new DomainError('INVALID_AMOUNT', `${field} has more than ${MAX_AMOUNT_DIGITS} digits`);
  }
  if (!CANONICAL_INTEGER.test(value)) {
    throw new DomainError('INVALID_AMOUNT', `${field} must be a plain integer string (digits only, no sign, exponent, decimals or leading zeros)`);
  }
  const amount = BigInt(value);
  if (amount > MAX_UINT256) throw new DomainError('INVALID_AMOUNT', `${field} exceeds 2^256 - 1`);
  return amount;
}

export function assertDecimals(decimals: unknown, field = 'currency.decimals'): number {
  if (typeof decimals !== 'number' || !Number.isInteger(decimals) || decimals < 0 || decimals > MAX_DECIMALS) {
    throw new DomainError('INVALID_CURRENCY', `${field} must be an integer from 0 to ${MAX_DECIMALS}`);
  }
  return decimals;
}

/** "1500000000000000000" with 18 decimals -> "1.5"; exact, trailing zeros trimmed. */
export function formatAmount(amount: bigint, decimals: number): string {
  assertDecimals(decimals);
  if (amount < 0n) throw new DomainError('INVALID_AMOUNT', 'amount must not be negative');
  if (decimals === 0) return amount.toString();
  const digits = amount.toString().padStart(decimals + 1, '0');
  const whole = digits.slice(0, digits.length - decimals);
  const fraction = digits.slice(digits.length - decimals).replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}` : whole;
}

const DECIMAL_NUMBER = /^(0|[1-9][0-9]*)(\.[0-9]+)?$/;

/**
 * "1.5" in a token with 18 decimals -> 1500000000000000000n: for amounts people
 * write in configuration. Exact; more fraction digits than the token has are refused
 * rather than rounded.
 */
export function parseDecimalAmount(text: string, decimals: number, field = 'amount'): bigint {
  assertDecimals(decimals);
  if (!DECIMAL_NUMBER.test(text)) throw new DomainError('INVALID_AMOUNT', `${field} must be a plain decimal number like 1.5, got "${text}"`);
  const [whole = '0', fraction = ''] = text.split('.');
  if (fraction.length > decimals) throw new DomainError('INVALID_AMOUNT', `${field} has ${fraction.length} decimals; the token has only ${decimals}`);
  const amount = BigInt(whole + fraction.padEnd(decimals, '0'));
  if (amount > MAX_UINT256) throw new DomainError('INVALID_AMOUNT', `${field} exceeds 2^256 - 1`);
  return amount;
}
