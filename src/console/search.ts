import { h, replaceChildren } from './dom.js';
import { explainFailure, formatInstant } from './format.js';
import type { RefundSearch } from './types.js';
import { money, refundTable, say, statusBadge, type ConsoleContext, type View } from './ui.js';

const FIELD_NAMES: Record<string, string> = {
  refundId: 'refund id',
  subscriptionId: 'subscription id',
  userId: 'user id',
  creatorId: 'creator id',
  transactionHash: 'transaction hash',
};

/** Find a refund from whatever id is at hand: refund, subscription, user, creator, or a payout's transaction hash. */
export function searchView(context: ConsoleContext, initialQuery: string): View {
  const input = h('input', { id: 'search-q', name: 'q', type: 'search', autocomplete: 'off', spellcheck: 'false', value: initialQuery, placeholder: 'rf_…, subscription id, user id or 0x… transaction hash' });
  const outcome = h('div', { class: 'outcome', role: 'status', 'aria-live': 'polite', hidden: true });
  const results = h('div', { class: 'table-wrap' });
  const form = h('form', { class: 'search', role: 'search', novalidate: true }, h('label', { for: 'search-q' }, 'Search refunds'), h('div', { class: 'inline' }, input, h('button', { type: 'submit', class: 'primary' }, 'Search')));
  const element = h('section', { class: 'card' }, h('h1', {}, 'Search'), form, outcome, results);

  const search = async (query: string) => {
    replaceChildren(results);
    if (!query) return;
    say(outcome, 'pending', 'Searching…');
    const result = await context.api.get<RefundSearch>(`/api/refunds/pro-rata/search?q=${encodeURIComponent(query)}`);
    if (!result.ok) {
      say(outcome, 'error', explainFailure(result.failure));
      return;
    }
    const { items, searchedBy } = result.body;
    const where = searchedBy.map((field) => FIELD_NAMES[field] ?? field).join(', ');
    say(outcome, items.length ? 'info' : 'error', `${items.length === 0 ? 'No refund' : items.length === 1 ? '1 refund' : `${items.length} refunds`} found by ${where}.`);
    if (items.length === 0) return;
    replaceChildren(
      results,
      refundTable(
        items,
        [
          { header: 'Amount', cell: (refund) => money(refund) },
          { header: 'Status', cell: (refund) => statusBadge(refund.refundStatus) },
          { header: 'User', cell: (refund) => refund.userId },
          { header: 'Subscription', cell: (refund) => refund.subscriptionId },
          { header: 'Requested', cell: (refund) => formatInstant(refund.requestedAt) },
          { header: 'Refund', cell: (refund) => refund.refundId },
        ],
        `Refunds matching ${result.body.query}`,
      ),
    );
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const query = input.value.trim();
    // The query goes in the fragment, so Back returns to these results; it never reaches a server log.
    history.replaceState(null, '', `#/search/${encodeURIComponent(query)}`);
    void search(query);
  });
  void search(initialQuery.trim());
  queueMicrotask(() => input.focus());
  return { element, stop: () => {} };
}
