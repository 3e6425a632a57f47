import { h, replaceChildren } from './dom.js';
import { explainFailure, formatInstant } from './format.js';
import type { RefundPage } from './types.js';
import { ageText, countdownText, money, poll, refundTable, say, swapKeepingFocus, type ConsoleContext, type View } from './ui.js';

const REFRESH_MS = 3000;
const PAGE_SIZE = 100;

/** The pending queue, oldest first: what waits for a decision, and how long until the timer decides it. */
export function queueView(context: ConsoleContext): View {
  const table = h('div', { class: 'table-wrap' });
  const note = h('p', { class: 'muted refreshed', 'aria-live': 'off' });
  const outcome = h('div', { class: 'outcome', role: 'status', hidden: true });
  const element = h(
    'section',
    { class: 'card', 'aria-labelledby': 'queue-title' },
    h('div', { class: 'card-head' }, h('h1', { id: 'queue-title' }, 'Pending approval'), note),
    h('p', { class: 'muted hint' }, 'Oldest first. ↑ ↓ (or j k) move between refunds, Enter opens one.'),
    outcome,
    table,
  );

  let shown = '';
  const refresh = async () => {
    const result = await context.api.get<RefundPage>(`/api/refunds/pro-rata/pending/all?limit=${PAGE_SIZE}`);
    if (!result.ok) {
      say(outcome, 'error', explainFailure(result.failure));
      return;
    }
    outcome.hidden = true;
    const { items, nextCursor } = result.body;
    note.textContent = `${items.length}${nextCursor ? '+' : ''} waiting · refreshed ${formatInstant(new Date().toISOString()).slice(11)}`;
    context.setPendingCount(nextCursor ? `${PAGE_SIZE}+` : String(items.length));
    const fingerprint = JSON.stringify(items.map((refund) => [refund.refundId, refund.refundStatus]));
    if (fingerprint === shown) return;
    shown = fingerprint;
    if (items.length === 0) {
      replaceChildren(table, h('p', { class: 'empty' }, 'Nothing is waiting for a decision.'));
      return;
    }
    swapKeepingFocus(
      table,
      refundTable(
        items,
        [
          { header: 'Amount', cell: (refund) => money(refund) },
          { header: 'User', cell: (refund) => refund.userId },
          { header: 'Creator', cell: (refund) => refund.creatorId },
          { header: 'Waiting', cell: (refund) => ageText(refund.requestedAt) },
          { header: 'Auto-approves', cell: (refund) => countdownText(refund.autoApproveAt) },
          { header: 'Reason', cell: (refund) => refund.reason ?? '—' },
        ],
        'Refunds pending approval, oldest first',
      ),
    );
    if (nextCursor) table.append(h('p', { class: 'muted' }, `Showing the oldest ${PAGE_SIZE}; decide these first.`));
  };

  const stop = poll(refresh, REFRESH_MS);
  return { element, stop };
}
