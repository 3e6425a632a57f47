import { Contract, getAddress, type JsonRpcProvider, type TransactionReceipt } from 'ethers';
import { ERC20_INTERFACE, sumOf, tokenTransfers, TRANSFER_TOPIC } from '../chain/erc20';

/**
 * What a mined payout transaction delivered to the recipient. A successful
 * receipt proves little for a token: some return false instead of reverting,
 * some take a fee on transfer. So a token payout is judged by the recipient's
 * balance change across the receipt's block, cross-checked with the token's
 * Transfer logs in the receipt (the logs alone when the node has pruned that state).
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
  const logged = sumOf(ours.filter((transfer) => transfer.to === to));
  const change = await balanceChange(provider, target, receipt.blockNumber);
  if (change === null) return judgedByLogs(logged, expected);

  if (change === expected && (logged === expected || logged === 0n)) return { kind: 'paid' }; // some tokens log nothing
  // Other transactions of the block moved the recipient's tokens too (a payment to it, or its own spending):
  // where the token's logs over the whole block account for the balance change, this transaction's logs decide.
  if (logged === expected && (await loggedNetInBlock(provider, target, receipt.blockHash)) === change) return { kind: 'paid' };
  // Tokens that left the treasury for someone else make it a difference for a person, never "nothing was paid".
  const sentElsewhere = ours.some((transfer) => transfer.from === getAddress(receipt.from) && transfer.to !== to);
  if (change <= 0n && logged === 0n && !sentElsewhere) return { kind: 'nothing', reason: `token ${target.tokenAddress} moved nothing to ${target.to} in block ${receipt.blockNumber}` };
  return { kind: 'different', delivered: change > 0n ? change : logged, expected };
}

/** What the token's Transfer logs of the whole block moved to the recipient, net of what they moved from it. */
async function loggedNetInBlock(provider: JsonRpcProvider, target: DeliveryTarget, blockHash: string): Promise<bigint> {
  const transfers = tokenTransfers(await provider.getLogs({ blockHash, address: target.tokenAddress!, topics: [TRANSFER_TOPIC] }), target.tokenAddress!);
  const to = getAddress(target.to);
  return sumOf(transfers.filter((transfer) => transfer.to === to)) - sumOf(transfers.filter((transfer) => transfer.from === to));
}

/**
 * The recipient's balance change across `blockNumber`; null when the node no
 * longer keeps the state of those blocks (most keep about 128 blocks, less than
 * some chains' finality depth) while it still answers for the latest one. Any
 * other failure is thrown: no verdict is taken from a node that cannot answer.
 */
async function balanceChange(provider: JsonRpcProvider, target: DeliveryTarget, blockNumber: number): Promise<bigint | null> {
  const token = new Contract(target.tokenAddress!, ERC20_INTERFACE, provider);
  const balanceAt = async (blockTag: number | 'latest') => (await token.getFunction('balanceOf')(getAddress(target.to), { blockTag })) as bigint;
  try {
    return (await balanceAt(blockNumber)) - (await balanceAt(blockNumber - 1));
  } catch (error) {
    await balanceAt('latest').catch(() => {
      throw error;
    });
    return null;
  }
}

/**
 * Without the balances only the transaction's own Transfer logs speak. They can
 * prove the full amount was sent; they cannot prove that nothing moved (some
 * tokens log nothing), so anything but the full amount goes to a person.
 */
function judgedByLogs(logged: bigint, expected: bigint): Delivery {
  if (logged === expected) return { kind: 'paid' };
  return { kind: 'different', delivered: logged, expected, fromLogsOnly: true };
}
