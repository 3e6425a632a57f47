/**
 * EIP-1559 fees of payouts, and of their replacements. Pure arithmetic on wei.
 *
 * A replacement must raise both fee fields by at least 10 % or nodes refuse it
 * ("replacement transaction underpriced"); it never offers more than the cap.
 */
export interface Fees {
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

export const NODE_MIN_BUMP_PERCENT = 10;

/** What to offer for the next block: twice its base fee (so a few full blocks in a row do not strand it) plus the tip. */
export function suggestedFees(nextBaseFeePerGas: bigint, priorityFeePerGas: bigint): Fees {
  return { maxFeePerGas: nextBaseFeePerGas * 2n + priorityFeePerGas, maxPriorityFeePerGas: priorityFeePerGas };
}

/** The first transaction of a payout: the suggestion, within the cap. */
export function initialFees(suggested: Fees, capWei: bigint): Fees {
  const maxFeePerGas = min(suggested.maxFeePerGas, capWei);
  return { maxFeePerGas, maxPriorityFeePerGas: min(suggested.maxPriorityFeePerGas, maxFeePerGas) };
}

/** What the next block asks: its base fee, and the tip nodes expect on top. */
export interface Market {
  baseFeePerGas: bigint;
  priorityFeePerGas: bigint;
}

/**
 * Whether a transaction's fees can no longer get it into the next block: its max
 * fee is under the base fee plus the expected tip, or its tip is under that tip.
 * Only then does a replacement with higher fees help; a transaction that is not
 * mined for another reason (it waits behind an earlier nonce, a node forgot it)
 * would only get dearer.
 */
export function outbid(offered: Fees, market: Market): boolean {
  return offered.maxFeePerGas < market.baseFeePerGas + market.priorityFeePerGas || offered.maxPriorityFeePerGas < market.priorityFeePerGas;
}

export type Replacement = { kind: 'bumped'; fees: Fees } | { kind: 'at_cap'; minimum: Fees };

/**
 * Fees for a replacement of a stuck transaction: each field raised by
 * `bumpPercent` (at least the nodes' 10 %), or to the current suggestion if that
 * is higher, within `capWei`. At the cap, when not even the nodes' minimum fits,
 * there is no replacement to send: the caller alerts and waits.
 */
export function replacementFees(previous: Fees, suggested: Fees, bumpPercent: number, capWei: bigint): Replacement {
  const minimum: Fees = { maxFeePerGas: raised(previous.maxFeePerGas, NODE_MIN_BUMP_PERCENT), maxPriorityFeePerGas: raised(previous.maxPriorityFeePerGas, NODE_MIN_BUMP_PERCENT) };
  const percent = Math.max(bumpPercent, NODE_MIN_BUMP_PERCENT);
  let maxFeePerGas = min(max(raised(previous.maxFeePerGas, percent), suggested.maxFeePerGas), capWei);
  const maxPriorityFeePerGas = min(max(raised(previous.maxPriorityFeePerGas, percent), suggested.maxPriorityFeePerGas), maxFeePerGas);
  if (maxFeePerGas < minimum.maxFeePerGas || maxPriorityFeePerGas < minimum.maxPriorityFeePerGas) return { kind: 'at_cap', minimum };
  maxFeePerGas = max(maxFeePerGas, maxPriorityFeePerGas);
  return { kind: 'bumped', fees: { maxFeePerGas, maxPriorityFeePerGas } };
}

/** `value` raised by `percent`, rounded up, and by at least 1 wei. */
function raised(value: bigint, percent: number): bigint {
  const increase = (value * BigInt(percent) + 99n) / 100n;
  return value + (increase > 0n ? increase : 1n);
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

function max(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}
