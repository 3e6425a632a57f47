import { formatAmount } from '../domain/amount';
import type { RefundPreparation } from '../domain/prepared-refund';
import { calculateProRataRefund } from '../domain/proration';
import type { Subscription } from '../domain/subscription';

/**
 * What the Temporal Web UI shows for a refund workflow besides its id: a
 * one-line summary ("0.5 ETH to 0x70997970…79C8 — subscription 65f1…") and a few
 * lines of details, set once when the workflow starts (the SDK's static
 * workflow metadata). The amount is the one the starter computed and passes
 * in (the API); without it (the sweep) it is computed here with the same
 * function, instant and penalty the workflow's prepare activity uses; the
 * workflow's record and its `getRefund` query stay the reference (a
 * subscription edited in between would make them differ).
 */
export interface RefundRunDescription {
  refundId: string;
  requestedAt: Date;
  requestedBy: string;
  penaltyBps: number;
  autoApproveAfterMs: number;
  /** Known to every starter (the API and the sweep load it to check eligibility); without it the text names ids only. */
  subscription?: Subscription;
  /** The amount the starter already computed for this request (the API): shown as is, not computed again. */
  prepared?: RefundPreparation;
}

export interface WorkflowMetadata {
  staticSummary: string;
  staticDetails: string;
}

export function refundWorkflowMetadata(run: RefundRunDescription): WorkflowMetadata {
  const subscription = run.subscription;
  const amount = subscription ? amountAtRequest(subscription, run) : null;
  const subject = subscription ? `${amount ?? 'refund'} to ${shortAddress(subscription.userWalletAddress)} — subscription ${subscription.id}` : `refund ${run.refundId}`;
  const lines = [
    `**Refund** \`${run.refundId}\``,
    subscription ? `**Subscription** \`${subscription.id}\` · user \`${subscription.userId}\` · creator \`${subscription.creatorId}\`` : null,
    subscription ? `**Pays** ${amount ?? 'an amount the workflow computes'} to \`${subscription.userWalletAddress}\` (computed at request; the refund record is the reference)` : null,
    subscription ? `**Paid** ${formatAmount(subscription.amountPaid, subscription.currency.decimals)} ${subscription.currency.symbol} for ${subscription.startDate.toISOString()} → ${subscription.endDate.toISOString()}` : null,
    `**Requested** ${run.requestedAt.toISOString()} by \`${run.requestedBy}\``,
    `**Auto-approves** ${new Date(run.requestedAt.getTime() + run.autoApproveAfterMs).toISOString()} unless an admin decides first`,
  ];
  // One paragraph per line: the Web UI renders the details as markdown, where a single newline joins lines.
  return { staticSummary: oneLine(subject), staticDetails: lines.filter((line): line is string => line !== null).join('\n\n') };
}

/** null when the subscription cannot be priced (the workflow then finds it invalid and says why). */
function amountAtRequest(subscription: Subscription, run: RefundRunDescription): string | null {
  if (run.prepared) return `${run.prepared.amountFormatted} ${subscription.currency.symbol}`;
  try {
    const { amount } = calculateProRataRefund(subscription, run.requestedAt, { penaltyBps: run.penaltyBps });
    return `${formatAmount(amount, subscription.currency.decimals)} ${subscription.currency.symbol}`;
  } catch {
    return null;
  }
}

function shortAddress(address: string): string {
  return address.length > 14 ? `${address.slice(0, 10)}…${address.slice(-4)}` : address;
}

/** The summary is one line, whatever the ids hold. */
function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
