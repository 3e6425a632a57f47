import { isError } from 'ethers';

/**
 * What a node's refusal of `eth_sendRawTransaction` means for a payout. Nodes
 * word these differently (geth, anvil, erigon, nethermind, besu); ethers maps
 * some to codes. Anything not recognised is left to the caller to retry.
 */
export type BroadcastRefusal =
  /** The node already has it: nothing to do. */
  | 'known'
  /** Some transaction at this nonce was mined: the chain says which. */
  | 'nonce_used'
  /** The wallet cannot pay value + gas: the nonce may never be sent as signed. */
  | 'insufficient_funds'
  /** The fees are below what the node or the next block accepts: a replacement with higher fees is due. */
  | 'underpriced';

const PATTERNS: [RegExp, BroadcastRefusal][] = [
  [/already known|known transaction|already imported|alreadyknown|transaction already exists/i, 'known'],
  [/nonce too low|nonce has already been used|oldnonce|nonce is too low/i, 'nonce_used'],
  [/insufficient funds|insufficient balance/i, 'insufficient_funds'],
  [/underpriced|less than block base fee|fee cap less than|feetoolow|fee too low|max fee per gas less than/i, 'underpriced'],
];

export function classifyBroadcastError(error: unknown): BroadcastRefusal | null {
  if (isError(error, 'NONCE_EXPIRED')) return 'nonce_used';
  if (isError(error, 'INSUFFICIENT_FUNDS')) return 'insufficient_funds';
  if (isError(error, 'REPLACEMENT_UNDERPRICED')) return 'underpriced';
  const message = describe(error);
  for (const [pattern, refusal] of PATTERNS) if (pattern.test(message)) return refusal;
  return null;
}

/** The node's own words when ethers wrapped them ("could not coalesce error"), else the message. */
function describe(error: unknown): string {
  const inner = (error as { error?: { message?: unknown } } | null)?.error?.message;
  const message = error instanceof Error ? error.message : String(error);
  return typeof inner === 'string' ? `${inner} ${message}` : message;
}
