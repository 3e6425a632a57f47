import fs from 'node:fs';
import path from 'node:path';
import type { Page, Request } from 'playwright-core';
import { consoleBuildDir } from '../../src/api/console';
import { buildConsole } from '../../src/dev/console-build';
import { ensureSweepSchedule } from '../../src/sweep/schedule';
import { ethers } from 'ethers';
import { startApiStack, type ApiStack } from '../api/support/api-stack';
import { TREASURY_START_BALANCE } from '../support/refund-stack';
import { launchBrowser, screenshotPath } from '../support/browser';
import { waitFor } from '../support/wait';

/**
 * The admin console in headless Chromium against the real stack (API, worker,
 * Temporal, MongoDB, anvil): what a finance person does with it, click by
 * click. Screenshots of each main screen go to test-output/console/.
 */
const SHOTS = 'console';

describe('admin console in a browser', () => {
  let api: ApiStack;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  let adminToken: string;
  /** Script errors, CSP violations and requests leaving the server, of every page opened: the console must have none. */
  const pageProblems: string[] = [];

  beforeAll(async () => {
    if (!fs.existsSync(path.join(consoleBuildDir(), 'index.html')) && buildConsole() !== 0) throw new Error('the admin console does not compile');
    [api, browser] = await Promise.all([startApiStack({ env: { TEMPORAL_WEB_UI_URL: 'http://127.0.0.1:8233' } }), launchBrowser()]);
    adminToken = await api.token('finance-ada', 'admin');
  }, 900_000); // the first run on a machine installs Chromium with apt

  afterAll(async () => {
    await browser?.close();
    await api?.removeSweepSchedule();
    await api?.close();
  });

  async function openConsole(token?: string): Promise<Page> {
    const page = await browser.context.newPage();
    page.on('pageerror', (error) => pageProblems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) pageProblems.push(`console: ${message.text()}`);
    });
    page.on('request', (request) => {
      if (!request.url().startsWith(`${api.url}/`)) pageProblems.push(`request outside the server: ${request.url()}`);
    });
    await page.goto(`${api.url}/admin`);
    await page.locator('#sign-in').waitFor();
    if (token) {
      await page.fill('#token', token);
      await page.click('#sign-in-button');
      await page.locator('#shell').waitFor();
    }
    return page;
  }

  async function requestRefund(userId: string) {
    const { subscriptionId } = await api.insertSubscription({ userId, creatorId: 'creator-console' });
    const response = await api.request('POST', '/api/refunds/pro-rata', { token: await api.token(userId, 'user'), body: { subscriptionId } });
    expect(response.status).toBe(202);
    return response.body as { refundId: string; subscriptionId: string; amountFormatted: string };
  }

  const refundOf = async (refundId: string) => (await api.request('GET', `/api/refunds/pro-rata/${refundId}`, { token: adminToken })).body;
  const rowLink = (page: Page, refundId: string) => page.locator(`a.row-link[data-refund-id="${refundId}"]`);

  let first: { refundId: string; subscriptionId: string; amountFormatted: string };
  let second: { refundId: string; subscriptionId: string; amountFormatted: string };
  let queuePage: Page;

  test('signing in, a pending refund appears in the queue by itself, and the token stays out of URLs and cookies', async () => {
    queuePage = await openConsole();
    await queuePage.screenshot({ path: screenshotPath(SHOTS, '1-sign-in') });
    await queuePage.fill('#token', adminToken);
    await queuePage.click('#sign-in-button');
    await queuePage.locator('#shell').waitFor();
    await queuePage.getByText('Nothing is waiting for a decision.').waitFor();
    expect(await queuePage.locator('#whoami').textContent()).toMatch(/^Signed in as finance-ada · token expires in (1 h|[1-5]?\d min)/);

    first = await requestRefund('user-console-1');
    await rowLink(queuePage, first.refundId).waitFor({ timeout: 15_000 }); // the queue polls every 3 s
    const row = (await queuePage.locator(`tr[data-refund-id="${first.refundId}"]`).innerText()).replace(/\s+/g, ' ');
    expect(row).toContain(`${first.amountFormatted} ETH`);
    expect(row).toContain('user-console-1');
    expect(row).toContain('creator-console');
    expect(row).toMatch(/in 13 d 23 h|in 14 d/); // auto-approval countdown

    expect(queuePage.url()).toBe(`${api.url}/admin`);
    expect(await queuePage.evaluate<string>('document.cookie')).toBe('');
    expect(await queuePage.evaluate<number[]>('[sessionStorage.length, localStorage.length]')).toEqual([1, 0]);
    expect(await queuePage.evaluate<string[]>('Object.values(sessionStorage)')).toEqual([adminToken]);
  });

  test('keyboard: the arrows move between refunds, oldest first, and Enter opens one', async () => {
    second = await requestRefund('user-console-2');
    await rowLink(queuePage, second.refundId).waitFor({ timeout: 15_000 });
    await queuePage.screenshot({ path: screenshotPath(SHOTS, '2-queue') });
    await rowLink(queuePage, first.refundId).focus();
    await queuePage.keyboard.press('ArrowDown');
    expect(await queuePage.evaluate<string>('document.activeElement.dataset.refundId')).toBe(second.refundId);
    await queuePage.keyboard.press('k');
    expect(await queuePage.evaluate<string>('document.activeElement.dataset.refundId')).toBe(first.refundId);
    await queuePage.keyboard.press('Enter');
    await queuePage.waitForURL(`**/admin#/refunds/${first.refundId}`);
    await queuePage.locator('table.calculation').waitFor();
  });

  test('the refund reads as a calculation; approving it (a double click sends one request) pays it out: completed, with its transaction', async () => {
    const page = queuePage;
    const calculation = (await page.locator('table.calculation').innerText()).replace(/\s+/g, ' ');
    expect(calculation).toContain('Paid 1 ETH');
    expect(calculation).toContain(`Refund ${first.amountFormatted} ETH`);
    expect(calculation).toMatch(/Remaining [\d,]+ s of 2,592,000 s/);
    expect(calculation).toContain('Penalty 0 ETH no penalty configured');
    const workflowLink = await page.getByRole('link', { name: 'open the workflow' }).getAttribute('href');
    expect(workflowLink).toBe(`http://127.0.0.1:8233/namespaces/default/workflows?query=${encodeURIComponent(`WorkflowId = 'prorata-refund-${first.subscriptionId}'`)}`);
    await page.screenshot({ path: screenshotPath(SHOTS, '3-refund-pending'), fullPage: true });

    const approvals: Request[] = [];
    page.on('request', (request) => {
      if (request.method() === 'POST' && request.url().endsWith(`/${first.refundId}/approve`)) approvals.push(request);
    });
    await page.fill('#approve-note', 'checked with finance');
    await page.getByRole('button', { name: `Approve ${first.amountFormatted} ETH` }).dblclick();
    await page.locator('.outcome.ok').getByText(/^Approved\. The refund is now (approved|processing)/).waitFor();

    await page.locator('#refund-title .status-completed').waitFor({ timeout: 60_000 });
    const refund = await refundOf(first.refundId);
    expect(refund).toMatchObject({ refundStatus: 'completed', decidedBy: 'finance-ada', decisionNote: 'checked with finance' });
    await page.locator('code', { hasText: refund.payout.txHash }).waitFor();
    const payout = (await page.locator('section', { has: page.getByRole('heading', { name: 'Payout' }) }).innerText()).replace(/\s+/g, ' ');
    expect(payout).toContain(`Block ${Number(refund.payout.blockNumber).toLocaleString('en-US')}`);
    expect(payout).toContain(`To ${refund.payout.to}`);
    expect(approvals).toHaveLength(1);
    expect(approvals[0]!.headers()['idempotency-key']).toMatch(/^console-approve-[0-9a-f-]{36}$/);
    const history = await page.locator('table.history').innerText();
    expect(history).toMatch(/approved[\s\S]*finance-ada[\s\S]*checked with finance/);
    expect(history).toContain('completed');
    await page.screenshot({ path: screenshotPath(SHOTS, '4-refund-completed'), fullPage: true });
  });

  test('rejecting needs a reason: without one nothing is sent; with one the refund is rejected', async () => {
    const page = queuePage;
    await page.goto(`${api.url}/admin#/refunds/${second.refundId}`);
    const rejections: Request[] = [];
    page.on('request', (request) => {
      if (request.method() === 'POST' && request.url().endsWith('/reject')) rejections.push(request);
    });
    await page.getByRole('button', { name: 'Reject' }).click();
    await page.locator('.outcome.error').getByText('A rejection needs a reason: write why, the subscriber will read it.').waitFor();
    expect(await page.locator('#reject-reason').getAttribute('aria-invalid')).toBe('true');
    expect(await page.evaluate<string>('document.activeElement.id')).toBe('reject-reason');
    expect(rejections).toHaveLength(0);
    expect((await refundOf(second.refundId)).refundStatus).toBe('pending_approval');

    await page.fill('#reject-reason', 'duplicate of a support refund');
    await page.getByRole('button', { name: 'Reject' }).click();
    await page.locator('.outcome.ok').getByText('Rejected. The refund is now rejected.').waitFor();
    expect(rejections).toHaveLength(1);
    expect(await refundOf(second.refundId)).toMatchObject({ refundStatus: 'rejected', decidedBy: 'finance-ada', decisionNote: 'duplicate of a support refund' });
  });

  test('a payout that failed for good shows why, and is retried from the console once the cause is fixed', async () => {
    const setTreasuryBalance = (wei: bigint) => api.treasury.provider.send('anvil_setBalance', [api.treasury.address, ethers.toQuantity(wei)]);
    await setTreasuryBalance(0n);
    try {
      const broke = await requestRefund('user-console-5');
      expect((await api.request('POST', `/api/refunds/pro-rata/${broke.refundId}/approve`, { token: adminToken })).status).toBe(200);
      await waitFor(() => refundOf(broke.refundId), { until: (refund) => refund.refundStatus === 'failed', what: 'the payout to fail', timeoutMs: 60_000 });

      const page = await openConsole(adminToken);
      await page.goto(`${api.url}/admin#/refunds/${broke.refundId}`);
      await page.locator('#refund-title .status-failed').waitFor();
      expect(await page.locator('.facts').first().innerText()).toMatch(/Failure\s+InsufficientFunds/);
      await page.screenshot({ path: screenshotPath(SHOTS, '4b-refund-failed'), fullPage: true });

      await setTreasuryBalance(TREASURY_START_BALANCE);
      await page.fill('#retry-note', 'treasury topped up');
      await page.getByRole('button', { name: 'Retry the payout' }).click();
      await page.locator('.outcome.ok').getByText(/^Retry started\. The refund is now (processing|completed)/).waitFor();
      await page.locator('#refund-title .status-completed').waitFor({ timeout: 60_000 });
      const refund = await refundOf(broke.refundId);
      expect(refund.statusHistory.find((change: { status: string; note?: string }) => change.note === 'treasury topped up')).toMatchObject({ status: 'processing', by: 'finance-ada' });
      await page.close();
    } finally {
      await setTreasuryBalance(TREASURY_START_BALANCE);
    }
  });

  test('a decision someone else made first is explained in words (the 409), and changes nothing', async () => {
    const third = await requestRefund('user-console-3');
    const page = await openConsole(adminToken);
    await page.goto(`${api.url}/admin#/refunds/${third.refundId}`);
    await page.getByRole('button', { name: /^Approve / }).waitFor();
    // Hold this page's refreshes, so it still offers the decision when another admin has made it.
    await page.route(`**/api/refunds/pro-rata/${third.refundId}`, (route) => (route.request().method() === 'GET' ? route.abort() : route.continue()));
    const other = await api.request('POST', `/api/refunds/pro-rata/${third.refundId}/reject`, { token: await api.token('finance-bob', 'admin'), body: { reason: 'bob was faster' } });
    expect(other.status).toBe(200);

    await page.getByRole('button', { name: /^Approve / }).click();
    await page
      .locator('.outcome.error')
      .getByText('Already decided: this refund is rejected. Someone else, or the auto-approval timer, decided before your approve reached it; nothing was changed.')
      .waitFor();
    expect(await refundOf(third.refundId)).toMatchObject({ refundStatus: 'rejected', decidedBy: 'finance-bob' });
    await page.close();
  });

  test('a user\'s token is refused, and an expired token is explained', async () => {
    const page = await openConsole();
    await page.fill('#token', await api.token('user-console-1', 'user'));
    await page.click('#sign-in-button');
    await page.locator('#sign-in-error').getByText('This token belongs to a user ("user-console-1"), not an admin: the console needs a token with role admin.').waitFor();
    expect(await page.locator('#shell').isHidden()).toBe(true);
    await page.screenshot({ path: screenshotPath(SHOTS, '5-sign-in-user-token') });

    await page.fill('#token', await api.token('finance-ada', 'admin', -120));
    await page.click('#sign-in-button');
    await page.locator('#sign-in-error').getByText(/^This token expired at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(2 min( \d+ s)? ago\)\. Mint a new admin token and sign in again\.$/).waitFor();
    expect(await page.evaluate<number>('sessionStorage.length')).toBe(0);
    await page.screenshot({ path: screenshotPath(SHOTS, '6-sign-in-expired-token') });
    await page.close();
  });

  test('a token that expires while the console is open sends the admin back to sign in, saying why', async () => {
    // Signing in takes well under a second; the token outlives it by a wide margin, then expires.
    const page = await openConsole(await api.token('finance-ada', 'admin', 15));
    await page.locator('#sign-in-error').getByText(/^This token expired at/).waitFor({ timeout: 45_000 });
    expect(await page.locator('#shell').isHidden()).toBe(true);
    expect(await page.evaluate<number>('sessionStorage.length')).toBe(0);
    await page.close();
  });

  test('treasury at a glance, from /api/status (what it does not report reads "unknown")', async () => {
    const page = queuePage;
    await page.goto(`${api.url}/admin#/treasury`);
    await page.getByRole('heading', { name: 'Services' }).waitFor();
    const status = (await api.request('GET', '/api/status')).body;
    const text = await page.locator('#view').innerText();
    expect(text).toContain('Temporal\nreachable');
    if (status.treasury) {
      for (const balance of status.treasury.balances) expect(text).toContain(balance.currency.symbol);
      expect(text).toContain(`In flight\n${status.treasury.payoutsInFlight}`);
    } else {
      expect(text).toMatch(/Alerts\nunknown: this API does not report the treasury/);
    }
    if (!status.chain) expect(text).toContain('Chain\nunknown');
    await page.screenshot({ path: screenshotPath(SHOTS, '7-treasury'), fullPage: true });
  });

  test('the sweep: state, pause with a note (required), unpause, run now and the last run\'s counts', async () => {
    await ensureSweepSchedule(api.client, { taskQueue: api.config.temporal.taskQueue, intervalMs: 3_600_000 });
    const page = queuePage;
    await page.goto(`${api.url}/admin#/sweep`);
    await page.getByText('running on schedule').waitFor();

    await page.getByRole('button', { name: 'Pause', exact: true }).click();
    await page.locator('.outcome.error').getByText('Say why the sweep is paused: the note is what the next person reads.').waitFor();
    await page.fill('#pause-note', 'incident 42: RPC degraded');
    await page.getByRole('button', { name: 'Pause', exact: true }).click();
    await page.locator('.outcome.ok').getByText('Sweep paused.', { exact: false }).waitFor();
    await page.locator('.badge', { hasText: 'paused' }).waitFor();
    await page.getByText('paused by finance-ada: incident 42: RPC degraded').waitFor();
    expect(await api.sweep.status()).toMatchObject({ paused: true, note: 'paused by finance-ada: incident 42: RPC degraded' });

    await page.getByRole('button', { name: 'Unpause', exact: true }).click();
    await page.getByText('running on schedule').waitFor();
    expect((await api.sweep.status()).paused).toBe(false);

    await page.getByRole('button', { name: 'Run now' }).click();
    await page.locator('.outcome.ok').getByText(/^Sweep started/).waitFor();
    await waitFor(() => api.sweep.status(), { until: (status) => status.lastRun !== null, what: 'the sweep to record its run', timeoutMs: 60_000 });
    await page.getByRole('heading', { name: 'Last run' }).locator('..').getByText('Records repaired').waitFor({ timeout: 15_000 });
    await page.screenshot({ path: screenshotPath(SHOTS, '8-sweep'), fullPage: true });
  });

  test('search by subscription id, by transaction hash, by user id', async () => {
    const page = queuePage;
    await page.goto(`${api.url}/admin#/search`);
    await page.fill('#search-q', first.subscriptionId);
    await page.keyboard.press('Enter');
    await rowLink(page, first.refundId).waitFor();
    expect(await page.locator('#view .outcome').innerText()).toBe('1 refund found by subscription id, user id, creator id.');

    const { transactionId } = await refundOf(first.refundId);
    await page.fill('#search-q', transactionId);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('#view .outcome').getByText('1 refund found by transaction hash.').waitFor();
    await rowLink(page, first.refundId).waitFor();
    expect(page.url()).toBe(`${api.url}/admin#/search/${transactionId}`);

    await page.fill('#search-q', 'user-console-2');
    await page.keyboard.press('Enter');
    await rowLink(page, second.refundId).waitFor();
    expect(await page.locator(`tr[data-refund-id="${second.refundId}"]`).innerText()).toContain('rejected');
    await page.screenshot({ path: screenshotPath(SHOTS, '9-search'), fullPage: true });
  });

  test('usable at a phone\'s width: no sideways scrolling on the queue or a refund', async () => {
    const pending = await requestRefund('user-console-4');
    const page = await openConsole(adminToken);
    await page.setViewportSize({ width: 390, height: 844 });
    await rowLink(page, pending.refundId).waitFor({ timeout: 15_000 });
    const overflow = () => page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    expect(await overflow()).toBeLessThanOrEqual(0);
    await page.screenshot({ path: screenshotPath(SHOTS, '10-queue-phone'), fullPage: true });
    await rowLink(page, pending.refundId).click();
    await page.locator('table.calculation').waitFor();
    expect(await overflow()).toBeLessThanOrEqual(0);
    await page.screenshot({ path: screenshotPath(SHOTS, '11-refund-phone'), fullPage: true });
    await page.close();
  });

  test('the CSP is enforced: an inline script slipped into the page does not run, and is seen here', async () => {
    const page = await openConsole();
    const before = pageProblems.length;
    await page.evaluate("document.head.append(Object.assign(document.createElement('script'), { textContent: 'window.injected = true' }))");
    await waitFor(() => pageProblems.length, { until: (count) => count > before, what: 'the CSP violation to be reported' });
    expect(await page.evaluate<boolean>('window.injected === true')).toBe(false);
    expect(pageProblems.splice(before)).toEqual([expect.stringMatching(/Content Security Policy/)]);
    await page.close();
  });

  test('no page ran into a script error, a CSP refusal or a request outside the server', () => {
    expect(pageProblems).toEqual([]);
  });
});
