import type { ApiResult } from './api.js';
import { externalLink, facts, h, replaceChildren } from './dom.js';
import { breakdownRows, explainFailure, explorerTxUrl, formatInstant, groupThousands, isFinal, statusLabel, temporalWorkflowUrl } from './format.js';
import type { Refund } from './types.js';
import { ageText, code, countdownText, money, poll, say, section, shortCode, statusBadge, submitOnce, unknown, type ConsoleContext, type View } from './ui.js';

const REFRESH_MS = 3000;

/**
 * One refund: what it pays and why (the breakdown as a calculation), what happened to it and
 * who did it, its payout on-chain, and the decision it waits for. Followed live until it is final.
 */
export function refundView(context: ConsoleContext, refundId: string): View {
  const title = h('h1', { id: 'refund-title' }, 'Refund');
  const outcome = h('div', { class: 'outcome', role: 'status', 'aria-live': 'polite', hidden: true });
  const actions = h('div', { class: 'actions-slot' });
  const details = h('div', { class: 'refund-details' });
  const element = h(
    'article',
    { class: 'refund', 'aria-labelledby': 'refund-title' },
    h('p', {}, h('a', { href: '#/queue', class: 'back' }, '← Pending queue')),
    title,
    outcome,
    actions,
    details,
  );

  let shown = '';
  let actionsFor = '';
  let stopPolling = () => {};

  const show = (refund: Refund) => {
    const fingerprint = JSON.stringify(refund);
    if (fingerprint === shown) return;
    shown = fingerprint;
    replaceChildren(title, `${money(refund)} to ${refund.userId} `, statusBadge(refund.refundStatus));
    // The decision forms are rebuilt only when the status changes, so a note being typed survives refreshes.
    const actionsKey = `${refund.refundStatus}:${refund.retryable ?? ''}`;
    if (actionsKey !== actionsFor) {
      actionsFor = actionsKey;
      replaceChildren(actions, decisionForms(context, refund, outcome, show));
    }
    replaceChildren(details, summary(refund), payout(context, refund), calculation(refund), history(refund), links(context, refund), notificationFailures(refund));
    if (isFinal(refund.refundStatus)) stopPolling();
  };

  const refresh = async () => {
    const result = await context.api.get<Refund>(`/api/refunds/pro-rata/${encodeURIComponent(refundId)}`);
    if (result.ok) show(result.body);
    else if (!shown) say(outcome, 'error', explainFailure(result.failure));
  };
  stopPolling = poll(refresh, REFRESH_MS);
  return { element, stop: () => stopPolling() };
}

function summary(refund: Refund): HTMLElement {
  const pending = refund.refundStatus === 'pending_approval';
  return section(
    'Summary',
    facts([
      ['Refund', code(refund.refundId)],
      ['Status', statusBadge(refund.refundStatus)],
      ['Amount', [money(refund), ' ', h('span', { class: 'muted' }, `(${groupThousands(refund.amount)} in the smallest unit)`)]],
      ['Subscription', code(refund.subscriptionId)],
      ['User', refund.userId],
      ['Creator', refund.creatorId],
      ['Requested', [formatInstant(refund.requestedAt), ' by ', refund.requestedBy, ' · ', ageText(refund.requestedAt), ' ago']],
      ['Reason', refund.reason ?? unknown('none given')],
      [pending ? 'Auto-approves' : 'Auto-approval was due', pending ? [formatInstant(refund.autoApproveAt), ' · ', countdownText(refund.autoApproveAt)] : formatInstant(refund.autoApproveAt)],
      ['Decided', refund.decidedAt ? [formatInstant(refund.decidedAt), ' by ', refund.decidedBy === 'auto' ? 'the auto-approval timer' : (refund.decidedBy ?? '?')] : null],
      ['Decision note', refund.decisionNote],
      ['Completed', refund.completedAt ? formatInstant(refund.completedAt) : null],
      ['Failure', refund.failureReason ? h('span', { class: 'error-text' }, refund.failureReason) : null],
    ]),
  );
}

function calculation(refund: Refund): HTMLElement {
  const rows = breakdownRows(refund.breakdown);
  const table = h(
    'table',
    { class: 'calculation' },
    h('tbody', {}, ...rows.map((row) => h('tr', { class: row.label === 'Refund' ? 'total' : null }, h('th', { scope: 'row' }, row.label), h('td', { class: 'value' }, row.value), h('td', { class: 'muted' }, row.detail)))),
  );
  return wide(section('How the amount was computed', h('p', { class: 'muted' }, refund.breakdown.formula), table));
}

/** Sections too wide for half the page span both columns. */
function wide(card: HTMLElement): HTMLElement {
  card.classList.add('wide');
  return card;
}

function payout(context: ConsoleContext, refund: Refund): HTMLElement {
  const tx = refund.payout;
  if (!tx) {
    const none = refund.refundStatus === 'pending_approval' ? 'No transaction yet: the payout starts once the refund is approved.' : 'No transaction was recorded for this refund.';
    return section('Payout', refund.transactionId ? h('p', {}, 'Transaction ', shortCode(refund.transactionId)) : h('p', { class: 'muted' }, none));
  }
  const explorer = context.settings.chain.chainId === tx.chainId ? explorerTxUrl(context.settings.chain.explorerUrl, tx.txHash) : null;
  return section(
    'Payout',
    facts([
      ['Transaction', [code(tx.txHash), explorer ? [' ', externalLink(explorer, 'open in explorer')] : null].flat()],
      ['Block', tx.blockNumber === null ? unknown('not mined yet') : groupThousands(String(tx.blockNumber))],
      ['Confirmations', tx.confirmations === null ? unknown('none yet') : String(tx.confirmations)],
      ['From', code(tx.from)],
      ['To', code(tx.to)],
      ['Nonce', String(tx.nonce)],
      ['Attempt', String(tx.attempt)],
      ['Chain', String(tx.chainId)],
    ]),
  );
}

function history(refund: Refund): HTMLElement {
  const rows = refund.statusHistory.map((change) =>
    h('tr', {}, h('td', { 'data-label': 'Status' }, statusBadge(change.status)), h('td', { 'data-label': 'When' }, formatInstant(change.at)), h('td', { 'data-label': 'By' }, change.by), h('td', { 'data-label': 'Note' }, change.note ?? '')),
  );
  const head = h('thead', {}, h('tr', {}, ...['Status', 'When', 'By', 'Note'].map((title) => h('th', { scope: 'col' }, title))));
  return wide(section('Status history', h('table', { class: 'history' }, head, h('tbody', {}, ...rows))));
}

function notificationFailures(refund: Refund): HTMLElement | null {
  if (refund.notificationFailures.length === 0) return null;
  return section(
    'Notifications that failed',
    h(
      'ul',
      { class: 'plain' },
      ...refund.notificationFailures.map((failure) => h('li', {}, h('strong', {}, `${failure.channel} to ${failure.recipient}`), ` · ${formatInstant(failure.at)} · `, h('span', { class: 'error-text' }, failure.error))),
    ),
  );
}

function links(context: ConsoleContext, refund: Refund): HTMLElement {
  const workflow = temporalWorkflowUrl(context.settings.temporal.webUiUrl, context.settings.temporal.namespace, refund.workflowId);
  return section(
    'Workflow',
    facts([
      ['Workflow id', code(refund.workflowId)],
      ['Temporal Web UI', workflow ? externalLink(workflow, 'open the workflow') : unknown('not linked: TEMPORAL_WEB_UI_URL is not set')],
    ]),
  );
}

/** Approve and reject while pending, retry once failed; nothing otherwise. */
function decisionForms(context: ConsoleContext, refund: Refund, outcome: HTMLElement, show: (refund: Refund) => void): HTMLElement | string {
  const base = `/api/refunds/pro-rata/${encodeURIComponent(refund.refundId)}`;
  const post = (path: string) => (input: unknown, key: string) => context.api.post<Refund>(`${base}/${path}`, input, key) as Promise<ApiResult<Refund>>;
  const after = (verb: string) => (updated: Refund) => {
    show(updated);
    return `${verb}. The refund is now ${statusLabel(updated.refundStatus)}${updated.refundStatus === 'completed' || isFinal(updated.refundStatus) ? '' : '; this page follows it'}.`;
  };

  if (refund.refundStatus === 'pending_approval') {
    const note = h('textarea', { id: 'approve-note', name: 'note', rows: 2, maxlength: 1000 });
    const approve = h(
      'form',
      { class: 'decision approve', novalidate: true },
      h('label', { for: 'approve-note' }, 'Note (optional)'),
      note,
      h('button', { type: 'submit', class: 'primary' }, `Approve ${money(refund)}`),
    );
    submitOnce({ form: approve, outcome, action: 'approve', input: () => (note.value.trim() ? { note: note.value.trim() } : {}), send: post('approve'), done: after('Approved') });

    const reason = h('textarea', { id: 'reject-reason', name: 'reason', rows: 2, maxlength: 1000, required: true, 'aria-describedby': 'reject-hint' });
    const reject = h(
      'form',
      { class: 'decision reject', novalidate: true },
      h('label', { for: 'reject-reason' }, 'Reason (required; the subscriber reads it)'),
      reason,
      h('button', { type: 'submit', class: 'danger' }, 'Reject'),
      h('p', { id: 'reject-hint', class: 'muted' }, 'Rejecting is final for this request.'),
    );
    submitOnce({
      form: reject,
      outcome,
      action: 'reject',
      input: () => ({ reason: reason.value.trim() }),
      check: (input) => {
        const missing = !(input as { reason: string }).reason;
        reason.setAttribute('aria-invalid', String(missing));
        return missing ? 'A rejection needs a reason: write why, the subscriber will read it.' : null;
      },
      send: post('reject'),
      done: after('Rejected'),
    });
    return section('Decision', h('div', { class: 'decisions' }, approve, reject));
  }

  if (refund.refundStatus === 'failed') {
    if (refund.retryable === false) {
      return section('Decision', h('p', { class: 'error-text' }, `This payout must not be retried (${refund.failureReason ?? 'see the failure above'}). Escalate it; see docs/ADMIN.md §7.`));
    }
    const note = h('textarea', { id: 'retry-note', name: 'note', rows: 2, maxlength: 1000 });
    const retry = h(
      'form',
      { class: 'decision retry', novalidate: true },
      h('p', {}, 'Retry resumes the payout: it re-sends the transaction already signed, or signs a new one only once that one is proven unpaid. Fix the cause first (see the failure).'),
      h('label', { for: 'retry-note' }, 'Note (optional)'),
      note,
      h('button', { type: 'submit', class: 'primary' }, 'Retry the payout'),
    );
    submitOnce({ form: retry, outcome, action: 'retry', input: () => (note.value.trim() ? { note: note.value.trim() } : {}), send: post('retry'), done: after('Retry started') });
    return section('Decision', retry);
  }
  return '';
}
