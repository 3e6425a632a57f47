import { facts, h, replaceChildren } from './dom.js';
import { explainFailure, formatDuration, formatInstant, formatMoney, groupThousands } from './format.js';
import type { Health } from './types.js';
import { ageText, code, poll, say, section, unknown, type ConsoleContext, type View } from './ui.js';

const REFRESH_MS = 5000;

/** The money side of operations, from /api/status: balances, payouts in flight, and what needs a human. */
export function treasuryView(context: ConsoleContext): View {
  const outcome = h('div', { class: 'outcome', role: 'status', hidden: true });
  const body = h('div', { class: 'grid' });
  const element = h('div', { class: 'view' }, h('h1', {}, 'Treasury'), outcome, body);

  const refresh = async () => {
    const result = await context.api.get<Health>('/api/status');
    if (!result.ok) {
      say(outcome, 'error', explainFailure(result.failure));
      return;
    }
    outcome.hidden = true;
    const health = result.body;
    replaceChildren(body, alerts(health), balances(health), inFlight(health), services(health));
  };
  return { element, stop: poll(refresh, REFRESH_MS) };
}

function alerts(health: Health): HTMLElement {
  const treasury = health.treasury;
  if (!treasury) return section('Alerts', unknown('unknown: this API does not report the treasury'));
  if (treasury.alerts.length === 0) return section('Alerts', h('p', { class: 'ok-text' }, 'No alerts.'));
  return section(
    'Alerts',
    h('ul', { class: 'plain alerts' }, ...treasury.alerts.map((alert) => h('li', { class: 'alert' }, h('strong', {}, alert.type), ` since ${formatInstant(alert.since)} (`, ageText(alert.since), ' ago): ', alert.message))),
  );
}

function balances(health: Health): HTMLElement {
  const treasury = health.treasury;
  if (!treasury) return section('Balances', unknown());
  const rows = treasury.balances.map((balance) =>
    h(
      'tr',
      { class: balance.low ? 'low' : null },
      h('th', { scope: 'row', 'data-label': 'Currency' }, balance.currency.symbol, balance.currency.tokenAddress ? h('span', { class: 'muted' }, ' ', code(balance.currency.tokenAddress)) : ''),
      h('td', { 'data-label': 'Balance', class: 'value' }, formatMoney(balance.amount, balance.currency)),
      h('td', { 'data-label': 'Low below' }, balance.lowBalanceThreshold === null ? '—' : formatMoney(balance.lowBalanceThreshold, balance.currency)),
      h('td', { 'data-label': 'State' }, balance.low ? h('span', { class: 'badge status-failed' }, 'low') : h('span', { class: 'badge status-completed' }, 'ok')),
    ),
  );
  return section(
    'Balances',
    facts([['Treasury wallet', treasury.address ? code(treasury.address) : unknown()], ['Observed', formatInstant(treasury.observedAt)]]),
    rows.length
      ? h('table', { class: 'balances' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Currency'), h('th', { scope: 'col' }, 'Balance'), h('th', { scope: 'col' }, 'Low below'), h('th', { scope: 'col' }, 'State'))), h('tbody', {}, ...rows))
      : h('p', { class: 'muted' }, 'No balances reported.'),
  );
}

function inFlight(health: Health): HTMLElement {
  const treasury = health.treasury;
  if (!treasury) return section('Payouts in flight', unknown());
  return section(
    'Payouts in flight',
    facts([
      ['In flight', groupThousands(String(treasury.payoutsInFlight))],
      ['Oldest unconfirmed', treasury.oldestUnconfirmedAgeMs === null ? 'none' : formatDuration(treasury.oldestUnconfirmedAgeMs)],
      ['Stuck', treasury.stuckPayouts > 0 ? h('span', { class: 'error-text' }, String(treasury.stuckPayouts)) : '0'],
      ['Nonce gap', treasury.nonceGap ? h('span', { class: 'error-text' }, 'yes: a nonce was skipped, later payouts cannot be mined') : 'no'],
    ]),
  );
}

function services(health: Health): HTMLElement {
  const reachable = (value: boolean | undefined) => (value === undefined ? unknown() : value ? h('span', { class: 'ok-text' }, 'reachable') : h('span', { class: 'error-text' }, 'unreachable'));
  return section(
    'Services',
    facts([
      ['API health', health.status],
      ['Chain', health.chain ? [reachable(health.chain.reachable), ` · chain id ${health.chain.chainId}`, health.chain.blockNumber === null ? '' : ` · block ${groupThousands(String(health.chain.blockNumber))}`] : unknown()],
      ['Temporal', [reachable(health.temporal.reachable), ` · ${health.temporal.namespace} / ${health.temporal.taskQueue}`]],
      ['MongoDB', reachable(health.mongo.reachable)],
      ['Checked', formatInstant(health.checkedAt)],
    ]),
  );
}
