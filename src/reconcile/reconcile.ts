import { WorkflowNotFoundError } from '@temporalio/client';
import { getAddress, type JsonRpcProvider, type TransactionResponse } from 'ethers';
import { Types, type Connection } from 'mongoose';
import type { Refund } from '../domain/refund';
import { isTerminal, type RefundStatus } from '../domain/refund-status';
import { judgeDelivery } from '../payout/delivery';
import { readNonce } from '../payout/nonce-reading';
import { roundOf } from '../payout/rounds';
import type { PayoutAttemptRecord, PayoutLedger } from '../persistence/payout-ledger';
import { refundModel } from '../persistence/refund-model';
import { toView } from '../persistence/refund-repository';
import { subscriptionModel } from '../persistence/subscription-model';
import type { RefundWorkflowClient } from '../temporal/refund-client';
import { registeredRefund } from '../../workflows/refund-messages';

/**
 * Proves the books: for every refund, the record, the workflow and the chain
 * tell the same story; and every transaction the treasury sent is one this
 * service signed. Reads only; `npm run reconcile` prints what it finds and what
 * to do about each difference (docs/RUNBOOK.md, "Reconciling the books").
 */
export interface Difference {
  kind:
    | 'record_differs_from_workflow'
    | 'workflow_missing'
    | 'workflow_unreadable'
    | 'completed_without_payout'
    | 'payout_not_final'
    | 'payout_differs'
    | 'paid_but_not_completed'
    | 'needs_review'
    | 'subscription_not_flagged'
    | 'unknown_outflow';
  refundId?: string;
  subscriptionId?: string;
  txHash?: string;
  detail: string;
  action: string;
}

export interface ReconcileReport {
  checkedAt: string;
  chainId: number;
  treasury: string | null;
  confirmations: number;
  refunds: { checked: number; byStatus: Partial<Record<RefundStatus, number>>; withWorkflow: number };
  /**
   * What every treasury wallet sent (the current one and each the ledger signed
   * with before): `unknown`, transactions the service did not sign (each also a
   * difference); `internal`, plain transfers it did not sign that stay in the
   * treasury (a nonce taken by hand, an old wallet's funds moved to the new
   * one), listed for review.
   */
  outflows: { wallets: string[]; fromBlock: number; toBlock: number; transactions: number; unknown: number; internal: InternalTransfer[] } | null;
  differences: Difference[];
}

export interface ReconcileDeps {
  mongo: Connection;
  ledger: PayoutLedger;
  refundClient: RefundWorkflowClient;
  provider: JsonRpcProvider;
  chainId: number;
  confirmations: number;
  treasury: string | null;
}

export interface ReconcileOptions {
  /** Only refunds requested at or after this instant. */
  since?: Date;
  /** Treasury outflows from this block (default: the first block the ledger signed at). */
  fromBlock?: number;
  toBlock?: number;
  /** Progress lines for long runs. */
  progress?: (line: string) => void;
}

const ACTIONS: Record<Difference['kind'], string> = {
  record_differs_from_workflow: 'the workflow holds the truth: trigger the sweep (POST /trigger) to replay it onto the record, then run reconcile again',
  workflow_missing: 'a refund that is not final has no workflow: see the runbook ("A record that needs a human") before touching it',
  workflow_unreadable: 'the workflow could not be queried (no worker polling its task queue?): start a worker, then run reconcile again',
  completed_without_payout: 'the record says completed but no final payout backs it: stop and escalate; do not pay by hand',
  payout_not_final: 'the payout is not at finality depth yet: run reconcile again later',
  payout_differs: 'the chain paid another amount, recipient or token than the record: escalate to finance with the transaction',
  paid_but_not_completed: 'the chain paid this refund but its record does not say completed: let the workflow finish (it watches the payout), then run reconcile again',
  needs_review: 'the chain delivered a different amount (PayoutAmountMismatch): settle the difference by hand with finance',
  subscription_not_flagged: 'the subscription of a completed refund is not flagged isRefundApplied: a new refund of it would be refused by the payout ledger, but fix the flag',
  unknown_outflow: 'a transaction from the treasury that this service did not sign: someone else uses the treasury key; rotate it and investigate',
};

const RETRY_COMPLETES_IT =
  'the chain paid this refund while its record says failed: retry it (POST /api/refunds/pro-rata/<refundId>/retry, or the admin console); the retry finds the payout paid, signs nothing and completes the record; then run reconcile again';

export async function reconcile(deps: ReconcileDeps, options: ReconcileOptions = {}): Promise<ReconcileReport> {
  const differences: Difference[] = [];
  const note: Note = (difference) => differences.push({ ...difference, action: difference.action ?? ACTIONS[difference.kind] });
  const byStatus: Partial<Record<RefundStatus, number>> = {};
  let checked = 0;
  let withWorkflow = 0;

  const filter = options.since ? { requestedAt: { $gte: options.since } } : {};
  const cursor = refundModel(deps.mongo).find(filter).lean().cursor();
  for await (const record of cursor) {
    const refund = toView(record);
    checked += 1;
    byStatus[refund.refundStatus] = (byStatus[refund.refundStatus] ?? 0) + 1;
    if (checked % 500 === 0) options.progress?.(`${checked} refunds checked`);

    const live = await workflowView(deps, refund).catch((error: Error) => {
      note({ kind: 'workflow_unreadable', refundId: refund.refundId, subscriptionId: refund.subscriptionId, detail: error.message });
      return null;
    });
    if (live === 'missing') {
      if (!isTerminal(refund.refundStatus)) note({ kind: 'workflow_missing', refundId: refund.refundId, subscriptionId: refund.subscriptionId, detail: `record is ${refund.refundStatus}; no workflow runs this refund` });
    } else if (live) {
      withWorkflow += 1;
      if (live.refundStatus !== refund.refundStatus) {
        note({ kind: 'record_differs_from_workflow', refundId: refund.refundId, subscriptionId: refund.subscriptionId, detail: `record ${refund.refundStatus}, workflow ${live.refundStatus}` });
      }
    }
    await checkChain(deps, refund, note);
  }

  const outflows = await checkOutflows(deps, options, note);
  return {
    checkedAt: new Date().toISOString(),
    chainId: deps.chainId,
    treasury: deps.treasury,
    confirmations: deps.confirmations,
    refunds: { checked, byStatus, withWorkflow },
    outflows,
    differences,
  };
}

/** The refund as its workflow holds it; null when the workflow is past retention (finished long ago); 'missing' when no run is this refund. */
async function workflowView(deps: ReconcileDeps, refund: Refund): Promise<Refund | null | 'missing'> {
  try {
    const description = await deps.refundClient.handle(refund.subscriptionId).describe();
    if (description.memo?.refundId !== refund.refundId) return isTerminal(refund.refundStatus) ? null : 'missing';
    const live = registeredRefund(await deps.refundClient.state({ subscriptionId: refund.subscriptionId }));
    return live?.refundId === refund.refundId ? live : null;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return isTerminal(refund.refundStatus) ? null : 'missing';
    throw error;
  }
}

/** A difference, with the action its kind calls for unless it names its own. */
type Note = (difference: Omit<Difference, 'action'> & { action?: string }) => void;

/** The record against the ledger and the chain: a completed refund is backed by a final payout of exactly its amount; no other refund was paid. */
async function checkChain(deps: ReconcileDeps, refund: Refund, note: Note): Promise<void> {
  const ids = { refundId: refund.refundId, subscriptionId: refund.subscriptionId };
  const claim = await deps.ledger.findClaim(refund.subscriptionId);
  const ours = claim?.refundId === refund.refundId ? claim : null;
  if (ours?.status === 'review') note({ kind: 'needs_review', ...ids, txHash: ours.txHash ?? undefined, detail: `delivered ${ours.delivered} of ${ours.amount}: ${ours.failure ?? ''}` });

  const attempts = ours ? (await deps.ledger.attemptsOf(refund.subscriptionId)).filter((attempt) => attempt.refundId === refund.refundId) : [];
  const paid = await paidAttempt(deps, attempts);

  if (refund.refundStatus === 'completed') {
    if (!paid) {
      note({ kind: 'completed_without_payout', ...ids, txHash: refund.transactionId ?? undefined, detail: 'no transaction of this refund is mined and final' });
      return;
    }
    if (!paid.final) note({ kind: 'payout_not_final', ...ids, txHash: paid.attempt.txHash, detail: `${paid.depth} of ${deps.confirmations} confirmations` });
    if (paid.delivery !== 'paid') note({ kind: 'payout_differs', ...ids, txHash: paid.attempt.txHash, detail: paid.delivery });
    const expected = { to: refund.payout?.to ?? null, amount: refund.amount, token: refund.currency.tokenAddress?.toLowerCase() ?? null, txHash: refund.transactionId };
    const actual = { to: paid.attempt.to, amount: paid.attempt.amount, token: paid.attempt.tokenAddress?.toLowerCase() ?? null, txHash: paid.attempt.txHash };
    const mismatched = (Object.keys(expected) as (keyof typeof expected)[]).filter((key) => expected[key] !== null && sameValue(expected[key]!, actual[key]) === false);
    if (mismatched.length > 0) note({ kind: 'payout_differs', ...ids, txHash: paid.attempt.txHash, detail: mismatched.map((key) => `${key}: record ${expected[key]}, chain ${actual[key]}`).join('; ') });
    const subscription = await subscriptionModel(deps.mongo).findById(new Types.ObjectId(refund.subscriptionId), { isRefundApplied: 1, refundId: 1 }).lean();
    if (subscription?.isRefundApplied !== true) note({ kind: 'subscription_not_flagged', ...ids, detail: 'isRefundApplied is not true' });
    return;
  }
  if (paid?.final && paid.delivery === 'paid') {
    // A parked refund waits for a retry, and the retry is what completes it: the payout engine finds the round paid and signs nothing.
    const parked = refund.refundStatus === 'failed' && refund.retryable !== false;
    note({
      kind: 'paid_but_not_completed',
      ...ids,
      txHash: paid.attempt.txHash,
      detail: `record is ${refund.refundStatus}; transaction ${paid.attempt.txHash} paid ${paid.attempt.amount} to ${paid.attempt.to}`,
      ...(parked ? { action: RETRY_COMPLETES_IT } : {}),
    });
  }
}

function sameValue(expected: string, actual: string | null): boolean {
  if (actual === null) return false;
  return /^0x[0-9a-fA-F]{40}$/.test(expected) ? getAddress(expected) === getAddress(actual) : expected.toLowerCase() === actual.toLowerCase();
}

/** The payout transaction of these attempts that the chain mined, with its depth and what it delivered. */
async function paidAttempt(deps: ReconcileDeps, attempts: PayoutAttemptRecord[]) {
  // A round is one wallet's: after a key change two wallets may each have one at the same nonce number.
  const rounds = new Map(attempts.map((attempt) => [`${attempt.from.toLowerCase()}:${attempt.nonce}`, { from: attempt.from, nonce: attempt.nonce }]));
  for (const { from, nonce } of rounds.values()) {
    const round = roundOf(attempts, nonce, from).filter((attempt) => attempt.kind === 'payout');
    if (round.length === 0) continue;
    const reading = await readNonce(deps.provider, { from: round[0]!.from, nonce, candidates: round, confirmations: deps.confirmations });
    if (reading.kind !== 'mined') continue;
    const delivery = await judgeDelivery(deps.provider, reading.candidate, reading.receipt);
    if (delivery.kind === 'nothing') continue;
    return {
      attempt: reading.candidate,
      depth: reading.depth,
      final: reading.final,
      delivery: delivery.kind === 'paid' ? ('paid' as const) : `delivered ${delivery.delivered} instead of ${delivery.expected}${delivery.fromLogsOnly ? ' (per its Transfer logs; the node has pruned the balances)' : ''}`,
    };
  }
  return null;
}

/**
 * Every transaction a treasury wallet sent in the block range is one this
 * service signed: the current wallet's, and those of every earlier key the
 * ledger signed with (a key rotated out may still be used by someone). Two
 * kinds of transaction the RUNBOOK has the key's holder send are listed apart
 * (`internal`) instead: a wallet's plain transfer to itself (a nonce taken by
 * hand) and an earlier key's plain transfer to the current wallet (its funds
 * moved over). "Plain": no data, no code delegation (EIP-7702), to a wallet
 * without code at that block; anything else, or a transfer towards an earlier
 * key, could move funds on and is an `unknown_outflow`. Null when there is no
 * wallet to check yet.
 */
async function checkOutflows(deps: ReconcileDeps, options: ReconcileOptions, note: Note) {
  const current = deps.treasury ? getAddress(deps.treasury) : null;
  const signed = await deps.ledger.attemptsOnChain(deps.chainId);
  const wallets = [...new Set([...(current ? [current] : []), ...signed.map((attempt) => getAddress(attempt.from))])];
  if (wallets.length === 0) return null;
  const known = new Set(signed.map((attempt) => attempt.txHash.toLowerCase()));
  const firstSigned = signed.reduce((min, attempt) => Math.min(min, attempt.signedAtBlock ?? 0), Number.POSITIVE_INFINITY);
  const toBlock = options.toBlock ?? (await deps.provider.getBlockNumber());
  const fromBlock = options.fromBlock ?? (Number.isFinite(firstSigned) ? Math.max(0, firstSigned - 1) : toBlock);
  const senders = new Set(wallets);
  let transactions = 0;
  let unknown = 0;
  const internal: InternalTransfer[] = [];
  for (let number = fromBlock; number <= toBlock; number += 1) {
    if ((number - fromBlock) % 1000 === 999) options.progress?.(`treasury outflows: block ${number} of ${toBlock}`);
    const block = await deps.provider.getBlock(number, true);
    for (const tx of block?.prefetchedTransactions ?? []) {
      const sender = getAddress(tx.from);
      if (!senders.has(sender)) continue;
      transactions += 1;
      if (known.has(tx.hash.toLowerCase())) continue;
      const transfer = await plainTransferWithin(deps, tx, sender, current, number);
      if (transfer) {
        internal.push(transfer);
        continue;
      }
      unknown += 1;
      const whose = sender === current ? '' : current ? ` from ${sender}, a previous treasury key` : ` from ${sender}`;
      note({ kind: 'unknown_outflow', txHash: tx.hash, detail: `block ${number}, nonce ${tx.nonce}, ${tx.value} wei to ${tx.to ?? '(contract creation)'}${whose}` });
    }
  }
  return { wallets, fromBlock, toBlock, transactions, unknown, internal };
}

export interface InternalTransfer {
  txHash: string;
  block: number;
  from: string;
  to: string;
  valueWei: string;
  /** What it cost in gas: the one thing such a transfer takes out of the treasury. */
  feeWei: string;
}

/** The transfer as an internal one (see checkOutflows), or null when it is not one. */
async function plainTransferWithin(deps: ReconcileDeps, tx: TransactionResponse, sender: string, current: string | null, block: number): Promise<InternalTransfer | null> {
  if (!tx.to || tx.data !== '0x' || tx.type === 4 || (tx.authorizationList?.length ?? 0) > 0) return null;
  const to = getAddress(tx.to);
  if (to !== sender && to !== current) return null;
  // A wallet with code (a delegation) runs it when paid, and that code may send the value on; a node without that block's state cannot tell.
  const code = await deps.provider.getCode(to, block).catch(() => null);
  if (code !== '0x') return null;
  const receipt = await deps.provider.getTransactionReceipt(tx.hash);
  if (!receipt) return null;
  return { txHash: tx.hash, block, from: sender, to, valueWei: tx.value.toString(), feeWei: receipt.fee.toString() };
}
