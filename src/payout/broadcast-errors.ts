import { isError } from 'ethers';

/**
 * What a node's refusal of `eth_sendRawTransaction` means for a payout. Nodes
 * word these differently (geth, anvil, erigon, nethermind, besu, sequencers);
 * ethers maps some to codes. Null: not recognised (a refusal in other words, or
 * the endpoint failing); the watcher treats it like `rejected` and goes on.
 */
export type BroadcastRefusal =
  /** The node already has it: nothing to do. */
  | 'known'
  /** Some transaction at this nonce was mined: the chain says which. */
  | 'nonce_used'
  /** The wallet cannot pay value + gas: the nonce may never be sent as signed. */
  | 'insufficient_funds'
  /** The fees are below what the node or the next block accepts: a replacement with higher fees is due. */
  | 'underpriced'
  /** The node refuses nonces past the wallet's next one (sequencers, some pools): an earlier nonce is missing from it. */
  | 'nonce_gap'
  /** Refused for a reason no replacement or filler fixes (the node's fee cap, the gas limit): a person must look. */
  | 'rejected';

const PATTERNS: [RegExp, BroadcastRefusal][] = [
  [/already known|known transaction|already imported|alreadyknown|transaction already exists/i, 'known'],
  [/nonce too low|nonce has already been used|oldnonce|nonce is too low/i, 'nonce_used'],
  [/insufficient funds|insufficient balance/i, 'insufficient_funds'],
  [/underpriced|less than block base fee|fee cap less than|feetoolow|fee too low|max fee per gas less than/i, 'underpriced'],
  [/nonce too high|noncegap|nonce gap|nonce_too_far_in_future|nonce too far in (the )?future/i, 'nonce_gap'],
  [/exceeds the configured cap|intrinsic gas too low|exceeds block gas limit/i, 'rejected'],
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
export function describe(error: unknown): string {
  const inner = nodeWords(error);
  const message = error instanceof Error ? error.message : String(error);
  return inner !== null ? `${inner} ${message}` : message;
}

/** The JSON-RPC error's message inside an ethers error: at `error` for a refused send, at `info.error` for a failed call or estimate. */
export function nodeWords(error: unknown): string | null {
  const wrapped = error as { error?: { message?: unknown }; info?: { error?: { message?: unknown } } } | null;
  const inner = wrapped?.error?.message ?? wrapped?.info?.error?.message;
  return typeof inner === 'string' ? inner : null;
}
