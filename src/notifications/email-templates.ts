import type { EmailAudience, RefundEvent, RefundEventType } from './events';

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

const HEADLINES: Record<RefundEventType, (amount: string) => string> = {
  'refund.requested': (amount) => `We received your refund request for ${amount}`,
  'refund.approved': (amount) => `Your refund of ${amount} was approved`,
  'refund.rejected': (amount) => `Your refund request for ${amount} was declined`,
  'refund.cancelled': (amount) => `The refund request for ${amount} was withdrawn`,
  'refund.completed': (amount) => `Your refund of ${amount} has been paid`,
  'refund.failed': (amount) => `Refund payout of ${amount} failed and needs attention`,
};

/** Plain wording for the subscriber; the finance copy adds the identifiers they reconcile with. */
export function renderRefundEmail(event: RefundEvent, audience: EmailAudience): RenderedEmail {
  const refund = event.data.refund;
  const amount = `${refund.amountFormatted} ${refund.currency.symbol}`;
  const headline = HEADLINES[event.type](amount);
  const lines = [headline, ''];
  if (event.type === 'refund.rejected' && refund.decisionNote) lines.push(`Reason: ${refund.decisionNote}`);
  if (event.type === 'refund.completed' && refund.transactionId) lines.push(`Transaction: ${refund.transactionId}`);
  if (event.type === 'refund.requested') lines.push(`It will be approved automatically by ${refund.autoApproveAt} unless reviewed earlier.`);
  if (audience === 'finance') {
    lines.push(
      `Refund: ${refund.refundId}`,
      `Subscription: ${refund.subscriptionId}`,
      `User: ${refund.userId}  Creator: ${refund.creatorId}`,
      `Amount: ${refund.amount} (smallest unit) = ${amount}`,
      `Status: ${refund.refundStatus}`,
    );
    if (refund.failureReason) lines.push(`Failure: ${refund.failureReason}`);
  }
  const text = lines.join('\n');
  return {
    subject: audience === 'finance' ? `[refund ${refund.refundStatus}] ${headline}` : headline,
    text,
    html: `<div>${lines.map((line) => `<p>${escapeHtml(line)}</p>`).join('')}</div>`,
  };
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!);
}
