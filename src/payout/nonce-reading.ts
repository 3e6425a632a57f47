import { getAddress, type JsonRpcProvider, type TransactionReceipt } from 'ethers';

/**
 * What the chain says happened at one nonce of the treasury wallet. One
 * reading proves nothing on its own: load-balanced RPC endpoints answer from
 * nodes at different heights, and blocks can be reorganised away. So:
 * - a receipt counts only while its block is still the canonical one at its
 *   height, and is `final` only once buried `confirmations` deep (re-read);
 * - "another transaction took the nonce" is concluded only by finding that
 *   transaction in a canonical block, never from a nonce count alone.
 * Callers re-read until a reading is final; nothing here is cached.
 */

export interface Candidate {
  txHash: string;
}

export type NonceReading<C extends Candidate = Candidate> =
  /**
   * Nothing at this nonce is mined, as far as this node can tell. `nonceSpent`:
   * the node counts the nonce as used, but the transaction at it was not found
   * (a lagging node, or one that keeps no state as old as that transaction).
   */
  | { kind: 'unmined'; note?: string; nonceSpent?: true }
  /** One of our candidates is mined in a canonical block. */
  | { kind: 'mined'; candidate: C; receipt: TransactionReceipt; depth: number; final: boolean }
  /** A transaction that is none of our candidates is mined at the nonce. */
  | { kind: 'taken'; txHash: string; blockNumber: number; blockHash: string; depth: number; final: boolean };

export interface ReadNonceInput<C extends Candidate> {
  from: string;
  nonce: number;
  candidates: readonly C[];
  confirmations: number;
}

export async function readNonce<C extends Candidate>(provider: JsonRpcProvider, input: ReadNonceInput<C>): Promise<NonceReading<C>> {
  for (const candidate of input.candidates) {
    const receipt = await provider.getTransactionReceipt(candidate.txHash);
    if (!receipt) continue;
    const reading = await judgeMined(provider, receipt, input.confirmations);
    if (reading) return { kind: 'mined', candidate, receipt, ...reading };
  }
  const minedCount = await provider.getTransactionCount(input.from, 'latest');
  if (minedCount <= input.nonce) return { kind: 'unmined' };

  // This node says the nonce is used, yet no candidate's receipt was seen: a lagging
  // node answered one of the calls, or another transaction took the nonce. Find it.
  const head = await provider.getBlockNumber();
  const found = await findTransactionAtNonce(provider, input.from, input.nonce, head);
  if (!found) return { kind: 'unmined', note: `nonce ${input.nonce} reads as used, but no transaction at it was found yet`, nonceSpent: true };
  if (input.candidates.some((candidate) => candidate.txHash.toLowerCase() === found.hash.toLowerCase())) {
    return { kind: 'unmined', note: `our transaction ${found.hash} is in block ${found.blockNumber}; its receipt is not served yet` };
  }
  const depth = head - found.blockNumber + 1;
  const final = depth >= input.confirmations && (await canonicalHash(provider, found.blockNumber)) === found.blockHash;
  return { kind: 'taken', txHash: found.hash, blockNumber: found.blockNumber, blockHash: found.blockHash, depth, final };
}

/** Depth of a receipt's block, or null when that block is no longer canonical (a reorg is under way). */
async function judgeMined(provider: JsonRpcProvider, receipt: TransactionReceipt, confirmations: number): Promise<{ depth: number; final: boolean } | null> {
  if ((await canonicalHash(provider, receipt.blockNumber)) !== receipt.blockHash) return null;
  const depth = (await provider.getBlockNumber()) - receipt.blockNumber + 1;
  if (depth < confirmations) return { depth, final: false };
  // Believed only if a second reading, after the depth was reached, still places it in the same block.
  const again = await provider.getTransactionReceipt(receipt.hash);
  const stillThere = again !== null && again.blockHash === receipt.blockHash && (await canonicalHash(provider, receipt.blockNumber)) === receipt.blockHash;
  return { depth, final: stillThere };
}

async function canonicalHash(provider: JsonRpcProvider, blockNumber: number): Promise<string | null> {
  return (await provider.getBlock(blockNumber))?.hash ?? null;
}

/**
 * The transaction of `from` at `nonce`: the first block whose nonce count passes
 * it holds it. Found by historical nonce counts, stepping down from `head` by
 * doubling steps, then halving the range: a node that keeps only recent state
 * (not an archive node; geth keeps 128 blocks) still finds a transaction mined
 * lately, which is when a watcher looks. Null when the view is inconsistent or
 * the node has no state that old: the caller keeps waiting.
 */
export async function findTransactionAtNonce(provider: JsonRpcProvider, from: string, nonce: number, head: number): Promise<{ hash: string; blockNumber: number; blockHash: string } | null> {
  try {
    const countAt = (block: number) => provider.getTransactionCount(from, block);
    if ((await countAt(head)) <= nonce) return null;
    let hi = head;
    let lo = head;
    for (let step = 1; ; step *= 2) {
      if (hi === 0) return null; // used at genesis: nothing to find
      lo = Math.max(0, hi - step);
      if ((await countAt(lo)) <= nonce) break;
      hi = lo;
    }
    // countAt(lo) <= nonce < countAt(hi)
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if ((await countAt(mid)) > nonce) hi = mid;
      else lo = mid;
    }
    const block = await provider.getBlock(hi, true);
    const sender = getAddress(from);
    const tx = block?.prefetchedTransactions.find((candidate) => getAddress(candidate.from) === sender && candidate.nonce === nonce);
    return tx && block?.hash ? { hash: tx.hash, blockNumber: hi, blockHash: block.hash } : null;
  } catch {
    return null;
  }
}
