import { getAddress, isError, type JsonRpcProvider, type TransactionReceipt } from 'ethers';
import { netTo, tokenBalanceOf, tokenTransfers, TRANSFER_TOPIC, type TokenTransfer, type TokenTransfers } from '../chain/erc20';
import { describe } from './broadcast-errors';

/**
 * What a mined payout transaction delivered to the recipient. A successful
 * receipt proves little for a token: some return false instead of reverting,
 * some take a fee on transfer. So a token payout is judged by the recipient's
 * balance change across the receipt's block and the token's Transfer logs of
 * that block (the receipt's logs alone when the node has pruned that state):
 * docs/PAYOUTS.md says how.
 */
export type Delivery =
  | { kind: 'paid' }
  /** Nothing reached the recipient: the nonce is spent, the refund is unpaid. */
  | { kind: 'nothing'; reason: string }
  /** Something else than asked reached the recipient: a person must look; never pay again automatically. */
  | { kind: 'different'; delivered: bigint; expected: bigint; fromLogsOnly?: true };

export interface DeliveryTarget {
  to: string;
  amount: string;
  tokenAddress: string | null;
}

export async function judgeDelivery(provider: JsonRpcProvider, target: DeliveryTarget, receipt: TransactionReceipt): Promise<Delivery> {
  if (receipt.status !== 1) return { kind: 'nothing', reason: `transaction reverted in block ${receipt.blockNumber}` };
  if (!target.tokenAddress) return { kind: 'paid' }; // the protocol moves the value of a successful transaction, exactly

  const expected = BigInt(target.amount);
  const to = getAddress(target.to);
  const ours = tokenTransfers(receipt.logs, target.tokenAddress);
  const change = await balanceChange(provider, target.tokenAddress, to, receipt.blockNumber);
  if (change === null) return judgedByLogs(ours, to, expected);

  // The token's logs of the whole block, this transaction's and the others' (a payment to the recipient, its own spending).
  const block = tokenTransfers(await provider.getLogs({ blockHash: receipt.blockHash, address: target.tokenAddress, topics: [TRANSFER_TOPIC] }), target.tokenAddress);
  const isOurs = (transfer: TokenTransfer) => transfer.transactionHash.toLowerCase() === receipt.hash.toLowerCase();
  if (block.transfers.filter(isOurs).length !== ours.transfers.length) {
    throw new Error(`the node's logs of block ${receipt.blockHash} lack the payout's own Transfer logs: no verdict from an incomplete answer`);
  }
  const others = block.transfers.filter((transfer) => !isOurs(transfer));
  const delivered = netTo(ours.transfers, to);
  const readable = ours.unreadable === 0 && block.unreadable === 0;
  // Unless the logs account for every move of the recipient's balance in the block, a person decides
  // (a token that moves without logging, or rebases, cannot be judged from them).
  if (!readable || change !== delivered + netTo(others, to)) return { kind: 'different', delivered: change > 0n ? change : 0n, expected };
  if (delivered === expected) return { kind: 'paid' };
  // "Nothing was paid" may be retried: only when this transaction logged no move of the recipient's or the treasury's
  // tokens, and the treasury's own balance says none left it unlogged. Anything else is a difference for a person.
  const treasury = getAddress(receipt.from);
  const movedAnything = ours.transfers.some((transfer) => transfer.to === to || transfer.from === to || transfer.from === treasury);
  const treasuryChange = movedAnything ? null : await balanceChange(provider, target.tokenAddress, treasury, receipt.blockNumber);
  if (treasuryChange !== null && treasuryChange === netTo(others, treasury)) {
    return { kind: 'nothing', reason: `token ${target.tokenAddress} moved nothing to ${target.to} in block ${receipt.blockNumber}` };
  }
  return { kind: 'different', delivered: delivered > 0n ? delivered : 0n, expected };
}

/**
 * `account`'s balance change across `blockNumber`; null when the node no
 * longer keeps the state of those blocks (most keep about 128 blocks, less than
 * some chains' finality depth) while it still answers for the latest one. Any
 * other failure, and a refusal worded as passing (a rate limit, a timeout), is
 * thrown: no verdict is taken from a node that cannot answer.
 */
async function balanceChange(provider: JsonRpcProvider, tokenAddress: string, account: string, blockNumber: number): Promise<bigint | null> {
  const balanceAt = (blockTag: number | 'latest') => tokenBalanceOf(provider, tokenAddress, account, blockTag);
  try {
    return (await balanceAt(blockNumber)) - (await balanceAt(blockNumber - 1));
  } catch (error) {
    if (isError(error, 'TIMEOUT') || isError(error, 'SERVER_ERROR') || PASSING_REFUSAL.test(describe(error))) throw error;
    await balanceAt('latest').catch(() => {
      throw error;
    });
    return null;
  }
}

/** How providers word a refusal that passes (pruned state is worded otherwise: "missing trie node", "historical state unavailable"). */
const PASSING_REFUSAL = /rate limit|too many requests|\b429\b|timeout|timed out|try again|capacity|\b50[234]\b|bad gateway|ECONNRESET|ECONNREFUSED|socket hang up/i;

/**
 * Without the balances only the transaction's own Transfer logs speak. They can
 * prove the full amount was sent; they cannot prove that nothing moved (some
 * tokens log nothing), so anything but the full amount goes to a person.
 */
function judgedByLogs(ours: TokenTransfers, to: string, expected: bigint): Delivery {
  const delivered = netTo(ours.transfers, to);
  if (ours.unreadable === 0 && delivered === expected) return { kind: 'paid' };
  return { kind: 'different', delivered: delivered > 0n ? delivered : 0n, expected, fromLogsOnly: true };
}
