import { ApiClient } from './api.js';
import { byId, h, replaceChildren } from './dom.js';
import { explainSignInFailure, readTokenClaims } from './format.js';
import { queueView } from './queue.js';
import { refundView } from './refund.js';
import { searchView } from './search.js';
import { sweepView } from './sweep.js';
import { treasuryView } from './treasury.js';
import type { ConsoleSettings, RefundPage } from './types.js';
import { countdownText, poll, refreshClock, type ConsoleContext, type View } from './ui.js';

/**
 * The admin console's entry point: sign-in, the views behind the #/ fragment,
 * and the clock that keeps countdowns current. The token lives in this tab's
 * sessionStorage only: never in a URL, a cookie or localStorage.
 */
const TOKEN_KEY = 'prorata-refunds.admin-token';

const signInSection = byId('sign-in');
const signInForm = byId<HTMLFormElement>('sign-in-form');
const tokenInput = byId<HTMLTextAreaElement>('token');
const signInError = byId('sign-in-error');
const signInButton = byId<HTMLButtonElement>('sign-in-button');
const shell = byId('shell');
const viewSlot = byId('view');
const whoami = byId('whoami');
const whoamiBar = byId('whoami-bar');
const pendingCount = byId('pending-count');

let context: ConsoleContext | null = null;
let current: View | null = null;
let stopCounting = () => {};

async function signIn(token: string): Promise<void> {
  const claims = readTokenClaims(token);
  const api = new ApiClient(token, (failure) => {
    // A token that expires while the page is open: back to sign-in, saying why.
    if (context) signOut(explainSignInFailure(failure, claims, Date.now()));
  });
  signInButton.disabled = true;
  const result = await api.get<ConsoleSettings>('/api/admin/console-settings');
  signInButton.disabled = false;
  if (!result.ok) {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn(explainSignInFailure(result.failure, claims, Date.now()));
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  tokenInput.value = '';
  context = { api, settings: result.body, setPendingCount };
  const expires = claims?.exp ? new Date(claims.exp * 1000).toISOString() : null;
  replaceChildren(whoami, 'Signed in as ', h('strong', {}, result.body.caller.sub), ...(expires ? [' · token expires ', countdownText(expires)] : []));
  signInSection.hidden = true;
  shell.hidden = false;
  whoamiBar.hidden = false;
  stopCounting = countPending(api);
  route();
}

/** The navigation shows how many refunds wait, wherever the admin is (the queue view refreshes it faster). */
function countPending(api: ApiClient): () => void {
  return poll(async () => {
    if (location.hash.startsWith('#/queue') || location.hash === '') return;
    const result = await api.get<RefundPage>('/api/refunds/pro-rata/pending/all?limit=100');
    if (result.ok) setPendingCount(result.body.nextCursor ? '100+' : String(result.body.items.length));
  }, 5000);
}

function signOut(message?: string): void {
  stopCounting();
  current?.stop();
  current = null;
  context = null;
  sessionStorage.removeItem(TOKEN_KEY);
  replaceChildren(viewSlot);
  showSignIn(message);
}

function showSignIn(message?: string): void {
  shell.hidden = true;
  whoamiBar.hidden = true;
  signInSection.hidden = false;
  signInError.textContent = message ?? '';
  signInError.hidden = !message;
  tokenInput.focus();
}

function setPendingCount(count: string): void {
  pendingCount.textContent = count;
}

/** #/queue (default), #/refunds/<id>, #/treasury, #/sweep, #/search/<query>. */
function route(): void {
  if (!context) return;
  const [, section = 'queue', argument = ''] = location.hash.split('/');
  current?.stop();
  const decoded = safeDecode(argument);
  current =
    section === 'refunds' && decoded
      ? refundView(context, decoded)
      : section === 'treasury'
        ? treasuryView(context)
        : section === 'sweep'
          ? sweepView(context)
          : section === 'search'
            ? searchView(context, decoded)
            : queueView(context);
  const active = section === 'refunds' ? 'queue' : ['treasury', 'sweep', 'search'].includes(section) ? section : 'queue';
  for (const link of document.querySelectorAll<HTMLAnchorElement>('nav a[data-view]')) {
    if (link.dataset.view === active) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  replaceChildren(viewSlot, current.element);
  if (section !== 'search') {
    const heading = current.element.querySelector<HTMLElement>('h1');
    heading?.setAttribute('tabindex', '-1');
    heading?.focus({ preventScroll: true });
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

signInForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const token = tokenInput.value.trim();
  if (!token) {
    showSignIn('Paste an admin token first.');
    return;
  }
  void signIn(token);
});

byId('sign-out').addEventListener('click', () => signOut('Signed out. The token was forgotten by this tab.'));
window.addEventListener('hashchange', route);

document.addEventListener('keydown', (event) => {
  const typing = event.target instanceof HTMLElement && event.target.closest('input, textarea, select, [contenteditable]');
  if (!context || typing || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === '/') {
    event.preventDefault();
    location.hash = '#/search';
  } else if (event.key === 'Escape' && location.hash.startsWith('#/refunds/')) {
    location.hash = '#/queue';
  }
});

window.setInterval(() => {
  const now = Date.now();
  for (const element of document.querySelectorAll<HTMLElement>('[data-countdown], [data-age]')) refreshClock(element, now);
}, 1000);

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) void signIn(saved);
else showSignIn();
