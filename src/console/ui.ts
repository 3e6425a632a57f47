import { newIdempotencyKey, type ApiClient, type ApiResult } from './api.js';
import { h, replaceChildren } from './dom.js';
import { age, countdown, explainFailure, formatMoney, shortHex, statusLabel, type Action } from './format.js';
import type { ConsoleSettings, Refund } from './types.js';

/** What every view gets: the signed-in API client, the deployment's settings, and how to go elsewhere. */
export interface ConsoleContext {
  api: ApiClient;
  settings: ConsoleSettings;
  /** Pending count shown in the navigation, refreshed by whichever view knows it. */
  setPendingCount(count: string): void;
}

/** A screen of the console. `stop` ends its polling when the admin leaves it. */
export interface View {
  element: HTMLElement;
  stop(): void;
}

/**
 * Runs `task` now and then every `intervalMs` after the previous run ended (never two at once),
 * skipping runs while the tab is hidden. The console refreshes by polling: EventSource cannot send
 * the bearer token.
 */
export function poll(task: () => Promise<void>, intervalMs: number): () => void {
  let stopped = false;
  let timer: number | undefined;
  const run = async () => {
    if (stopped) return;
    if (!document.hidden) await task().catch((error: unknown) => console.error(error));
    if (!stopped) timer = window.setTimeout(run, intervalMs);
  };
  void run();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
}

/** Countdowns and ages are re-read from the clock every second by one ticker (main.ts), not re-fetched. */
export function countdownText(deadline: string): HTMLSpanElement {
  const element = h('span', { class: 'countdown', 'data-countdown': deadline });
  refreshClock(element, Date.now());
  return element;
}

export function ageText(since: string): HTMLSpanElement {
  const element = h('span', { class: 'age', 'data-age': since });
  refreshClock(element, Date.now());
  return element;
}

export function refreshClock(element: HTMLElement, now: number): void {
  const deadline = element.dataset.countdown;
  if (deadline) {
    const left = countdown(deadline, now);
    element.textContent = left.text;
    element.classList.toggle('overdue', left.overdue);
    element.classList.toggle('soon', !left.overdue && left.msLeft < 3_600_000);
  }
  const since = element.dataset.age;
  if (since) element.textContent = age(since, now);
}

export function statusBadge(status: string): HTMLSpanElement {
  return h('span', { class: `badge status-${status}` }, statusLabel(status));
}

export function money(refund: Pick<Refund, 'amount' | 'currency'>): string {
  return formatMoney(refund.amount, refund.currency);
}

export function code(text: string, title?: string): HTMLElement {
  return h('code', { title: title ?? null }, text);
}

export function shortCode(value: string): HTMLElement {
  return code(shortHex(value, 10, 6), value);
}

export interface Column {
  header: string;
  cell(refund: Refund): Node | string;
}

/**
 * A table of refunds whose rows are links to the refund: Tab reaches the table, the arrow keys
 * (or j / k) move between rows, Home / End jump, Enter opens. On a phone each row is a card.
 */
export function refundTable(refunds: Refund[], columns: Column[], caption: string): HTMLTableElement {
  const body = h('tbody');
  for (const refund of refunds) {
    const row = h('tr', { 'data-refund-id': refund.refundId });
    columns.forEach((column, index) => {
      const content = column.cell(refund);
      const cell = h(index === 0 ? 'th' : 'td', { 'data-label': column.header, scope: index === 0 ? 'row' : null });
      cell.append(index === 0 ? h('a', { href: `#/refunds/${refund.refundId}`, class: 'row-link', 'data-refund-id': refund.refundId }, content) : content);
      row.append(cell);
    });
    body.append(row);
  }
  body.addEventListener('keydown', (event) => moveBetweenRows(body, event));
  return h('table', { class: 'refunds' }, h('caption', { class: 'visually-hidden' }, caption), h('thead', {}, h('tr', {}, ...columns.map((column) => h('th', { scope: 'col' }, column.header)))), body);
}

function moveBetweenRows(body: HTMLTableSectionElement, event: KeyboardEvent): void {
  const links = [...body.querySelectorAll<HTMLAnchorElement>('a.row-link')];
  const current = links.indexOf(document.activeElement as HTMLAnchorElement);
  if (current === -1) return;
  const target = { ArrowDown: current + 1, j: current + 1, ArrowUp: current - 1, k: current - 1, Home: 0, End: links.length - 1 }[event.key];
  if (target === undefined) return;
  event.preventDefault();
  links[Math.max(0, Math.min(links.length - 1, target))]?.focus();
}

/** Re-renders a table in place, keeping the keyboard focus on the same refund's row. */
export function swapKeepingFocus(container: HTMLElement, next: Node): void {
  const focused = (document.activeElement as HTMLElement | null)?.dataset?.refundId;
  replaceChildren(container, next);
  if (focused) container.querySelector<HTMLElement>(`a.row-link[data-refund-id="${CSS.escape(focused)}"]`)?.focus();
}

export type Tone = 'ok' | 'error' | 'pending' | 'info';

export function say(outcome: HTMLElement, tone: Tone, message: string): void {
  outcome.className = `outcome ${tone}`;
  outcome.hidden = false;
  outcome.textContent = message;
}

/**
 * Wires a form to one API call that cannot be double-submitted: while it runs the form is
 * disabled, and every send of the same input carries the same Idempotency-Key, so a second
 * click after a timeout gets the first answer instead of a second effect. The key is dropped
 * once the server has given a definite answer, or when the input changes.
 */
export function submitOnce<T>(options: {
  form: HTMLFormElement;
  outcome: HTMLElement;
  action: Action;
  input(): unknown;
  check?(input: unknown): string | null;
  send(input: unknown, idempotencyKey: string): Promise<ApiResult<T>>;
  done(body: T): string;
}): void {
  const { form, outcome } = options;
  let key: { value: string; input: string } | null = null;
  let busy = false;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (busy) return;
    const input = options.input();
    const problem = options.check?.(input) ?? null;
    if (problem) {
      say(outcome, 'error', problem);
      form.querySelector<HTMLElement>('[aria-invalid="true"], textarea, input')?.focus();
      return;
    }
    const serialized = JSON.stringify(input);
    if (!key || key.input !== serialized) key = { value: newIdempotencyKey(options.action), input: serialized };
    busy = true;
    setBusy(form, true);
    say(outcome, 'pending', 'Sending…');
    const result = await options.send(input, key.value);
    busy = false;
    setBusy(form, false);
    if (result.ok) {
      key = null;
      say(outcome, 'ok', options.done(result.body));
      return;
    }
    // Unknown outcome (no answer, or a 5xx): keep the key, so sending again cannot act twice.
    if (result.failure.status !== 0 && result.failure.status < 500) key = null;
    say(outcome, 'error', explainFailure(result.failure, options.action));
  });
}

function setBusy(form: HTMLFormElement, busy: boolean): void {
  form.setAttribute('aria-busy', String(busy));
  for (const control of form.querySelectorAll<HTMLButtonElement | HTMLTextAreaElement | HTMLInputElement>('button, textarea, input')) control.disabled = busy;
}

export function section(title: string, ...children: (Node | string | null | undefined | false)[]): HTMLElement {
  return h('section', { class: 'card' }, h('h2', {}, title), ...children);
}

export function unknown(text = 'unknown'): HTMLElement {
  return h('span', { class: 'muted' }, text);
}
