import Koa from 'koa';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { consoleBuildDir, serveConsole } from '../../src/api/console';
import { scheduleAfterAction } from '../../src/api/routes/admin';
import { ConsoleSettingsSchema, RefundSearchSchema, SweepStatusSchema } from '../../src/api/schemas';
import type { Refund } from '../../src/domain/refund';
import { buildConsole } from '../../src/dev/console-build';
import { ensureSweepSchedule, type SweepControl } from '../../src/sweep/schedule';
import { refundView, subscriptionDoc } from '../support/fixtures';
import { testLogger } from '../support/logging';
import { sleep, waitFor } from '../support/wait';
import { startApiStack, type ApiStack } from './support/api-stack';
import { apiClient, listen } from './support/http';

/**
 * What the admin console needs from the API besides the refund routes: the
 * page itself under its own CSP, search by any id at hand, pausing the sweep
 * with a note, the console's settings, and workflows the Temporal Web UI can
 * describe in words.
 */
describe('admin console: the API side', () => {
  let api: ApiStack;
  let admin: string;

  beforeAll(async () => {
    if (!fs.existsSync(path.join(consoleBuildDir(), 'index.html')) && buildConsole() !== 0) throw new Error('the admin console does not compile');
    api = await startApiStack({ env: { TEMPORAL_WEB_UI_URL: 'http://127.0.0.1:8233/' } });
    admin = await api.token('console-admin', 'admin');
  }, 180_000);
  afterAll(async () => {
    await api?.removeSweepSchedule();
    await api?.close();
  });

  describe('the page', () => {
    test('/admin is the console: HTML whose only script and stylesheet come from this server, under a CSP without inline code', async () => {
      const page = await api.request('GET', '/admin');
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const csp = page.headers.get('content-security-policy')!;
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).toContain("connect-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('unsafe-eval');
      expect(page.headers.get('x-frame-options')).toBe('DENY');
      expect(page.headers.get('cache-control')).toBe('no-store');
      const sources = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
      expect(sources.sort()).toEqual(['#/queue', '#/search', '#/sweep', '#/treasury', '/admin/assets/console.css', '/admin/assets/main.js']);
      expect(page.text).not.toMatch(/<script>|<style|\sstyle="|\son[a-z]+="|javascript:/i);
      expect((await api.request('GET', '/admin/')).text).toBe(page.text);
    });

    test('its scripts and stylesheet are served with their types; every module the page imports exists', async () => {
      const main = await api.request('GET', '/admin/assets/main.js');
      expect(main.status).toBe(200);
      expect(main.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      const css = await api.request('GET', '/admin/assets/console.css');
      expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
      const seen = new Set<string>();
      const queue = ['main.js'];
      while (queue.length > 0) {
        const file = queue.pop()!;
        if (seen.has(file)) continue;
        seen.add(file);
        const module = await api.request('GET', `/admin/assets/${file}`);
        expect({ file, status: module.status }).toEqual({ file, status: 200 });
        for (const [, imported] of module.text.matchAll(/from '\.\/([a-z-]+\.js)'/g)) queue.push(imported!);
        expect(module.text).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)/); // nothing loaded from elsewhere
      }
      expect([...seen].sort()).toEqual(expect.arrayContaining(['api.js', 'format.js', 'main.js', 'queue.js', 'refund.js', 'sweep.js', 'treasury.js', 'search.js']));
    });

    test('nothing else is served from under /admin, and the API keeps its own stricter policy', async () => {
      for (const probe of ['/admin/assets/nope.js', '/admin/assets/..%2F..%2Fpackage.json', '/admin/assets/../../package.json', '/admin/index.html', '/admin/assets/main.ts', '/admin/secret']) {
        const response = await api.request('GET', probe);
        expect({ probe, status: response.status, leaked: response.text.includes('"dependencies"') }).toEqual({ probe, status: 404, leaked: false });
      }
      const post = await api.request('POST', '/admin', { body: {} });
      expect(post.status).toBe(405);
      expect(post.body.error.code).toBe('METHOD_NOT_ALLOWED');
      const status = await api.request('GET', '/api/status');
      expect(status.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
    });

    test('a server whose console was not built says so instead of answering a blank page', async () => {
      const app = new Koa();
      app.use(serveConsole(testLogger(), path.join(os.tmpdir(), 'prorata-console-never-built')));
      const server = await listen(app);
      try {
        const response = await apiClient(server.url)('GET', '/admin');
        expect(response.status).toBe(503);
        expect(response.text).toMatch(/not built.*npm run build/);
      } finally {
        await server.close();
      }
    });
  });

  test('console settings: who is signed in, the Web UI and the explorer of this network', async () => {
    const response = await api.request('GET', '/api/admin/console-settings', { token: admin });
    expect(response.status).toBe(200);
    expect(ConsoleSettingsSchema.parse(response.body)).toEqual({
      caller: { sub: 'console-admin', role: 'admin' },
      temporal: { namespace: api.config.temporal.namespace, webUiUrl: 'http://127.0.0.1:8233' },
      chain: { network: 'anvil', chainId: 31337, explorerUrl: null },
      autoApproveDays: api.config.refunds.autoApproveDays,
    });
    const user = await api.request('GET', '/api/admin/console-settings', { token: await api.token('someone', 'user') });
    expect(user.status).toBe(403);

    const onMainnet = await api.app({ config: { ...api.config, chain: { ...api.config.chain, network: 'mainnet' }, temporal: { ...api.config.temporal, webUiUrl: undefined } } });
    expect((await onMainnet.request('GET', '/api/admin/console-settings', { token: admin })).body).toMatchObject({
      temporal: { webUiUrl: null },
      chain: { network: 'mainnet', chainId: 1, explorerUrl: 'https://etherscan.io' },
    });
  });

  describe('search', () => {
    const created: Refund[] = [];
    const TX = `0x${'c0ffee'.repeat(10)}abcd`;
    const REPLACED_TX = `0x${'beef'.repeat(16)}`;

    beforeAll(async () => {
      const docA = subscriptionDoc({ userId: 'search-user', creatorId: 'search-creator' });
      const docB = subscriptionDoc({ userId: 'search-user', creatorId: 'search-creator-2' });
      const docC = subscriptionDoc({ userId: 'b0b0b0b0b0b0b0b0b0b0b0b0', creatorId: 'search-creator' });
      const base = Date.now();
      created.push(refundView({ refundId: 'rf_5ea0c4000000000000000001', refundStatus: 'completed', transactionId: TX }, docA));
      created.push(refundView({ refundId: 'rf_5ea0c4000000000000000002', refundStatus: 'rejected' }, docB));
      created.push(refundView({ refundId: 'rf_5ea0c4000000000000000003', refundStatus: 'pending_approval' }, docB));
      created.push(refundView({ refundId: 'rf_5ea0c4000000000000000004', refundStatus: 'failed' }, docC));
      for (const [index, view] of created.entries()) {
        await api.refunds.create(view, null);
        await api.mongo.db!.collection('proratarefunds').updateOne({ _id: view.refundId as never }, { $set: { createdAt: new Date(base + index * 1000) } });
      }
      // An earlier attempt of the failed refund's payout, replaced later (fee bump): its hash still finds the refund.
      await api.mongo.db!.collection('payoutattempts').insertOne({ _id: `${docC._id.toHexString()}:1` as never, subscriptionId: docC._id.toHexString(), refundId: created[3]!.refundId, attempt: 1, txHash: REPLACED_TX });
    });

    const search = async (q: string) => {
      const response = await api.request('GET', `/api/refunds/pro-rata/search?q=${encodeURIComponent(q)}`, { token: admin });
      expect(response.status).toBe(200);
      const body = RefundSearchSchema.parse(response.body);
      return { searchedBy: body.searchedBy, ids: body.items.map((refund) => refund.refundId) };
    };
    const id = (index: number) => created[index]!.refundId;

    test('by refund id, in any case', async () => {
      expect(await search(id(1))).toEqual({ searchedBy: ['refundId'], ids: [id(1)] });
      expect((await search(id(1).toUpperCase().replace('RF_', 'rf_'))).ids).toEqual([id(1)]);
    });

    test('by subscription id: every refund of it, newest first', async () => {
      expect(await search(created[1]!.subscriptionId.toUpperCase())).toEqual({ searchedBy: ['subscriptionId', 'userId', 'creatorId'], ids: [id(2), id(1)] });
    });

    test('by user or creator id, including one that looks like an ObjectId', async () => {
      expect(await search('search-user')).toEqual({ searchedBy: ['userId', 'creatorId'], ids: [id(2), id(1), id(0)] });
      expect((await search('search-creator')).ids).toEqual([id(3), id(0)]);
      expect((await search('b0b0b0b0b0b0b0b0b0b0b0b0')).ids).toEqual([id(3)]);
    });

    test('by transaction hash: the payout\'s, or an earlier attempt\'s', async () => {
      expect(await search(TX.toUpperCase().replace('0X', '0x'))).toEqual({ searchedBy: ['transactionHash'], ids: [id(0)] });
      expect((await search(REPLACED_TX)).ids).toEqual([id(3)]);
    });

    test('nothing found is an empty list; an empty query is refused', async () => {
      expect((await search('nobody-at-all')).ids).toEqual([]);
      expect((await search(`0x${'00'.repeat(32)}`)).ids).toEqual([]);
      const empty = await api.request('GET', '/api/refunds/pro-rata/search?q=%20', { token: admin });
      expect(empty.status).toBe(400);
      expect(empty.body.error.details).toEqual([{ path: 'query.q', message: 'type what to search for' }]);
    });
  });

  describe('sweep pause and unpause', () => {
    const post = (path: string, body?: unknown) => api.request('POST', `/api/refunds/pro-rata/sweep/${path}`, { token: admin, body });
    /** `post` for an API whose sweep control is the real one with some methods replaced (a slow or lagging Temporal). */
    const withSweep = async (replaced: Partial<SweepControl>) => {
      const app = await api.app({ sweep: Object.assign(Object.create(api.sweep) as SweepControl, replaced) });
      return (action: string, note: string) => app.request('POST', `/api/refunds/pro-rata/sweep/${action}`, { token: admin, body: { note } });
    };

    test('before a worker created the schedule, the answer says so', async () => {
      const response = await post('pause', { note: 'too early' });
      expect(response.status).toBe(503);
      expect(response.body.error.code).toBe('SWEEP_SCHEDULE_MISSING');
    });

    test('a pause needs a note, keeps it with the admin\'s id, and shows everywhere the sweep is described', async () => {
      await ensureSweepSchedule(api.client, { taskQueue: api.config.temporal.taskQueue, intervalMs: 3_600_000 });
      const noNote = await post('pause', {});
      expect(noNote.status).toBe(400);
      expect(noNote.body.error.details[0].path).toBe('body.note');

      const paused = await post('pause', { note: 'incident 42: RPC degraded' });
      expect(paused.status).toBe(200);
      expect(SweepStatusSchema.parse(paused.body)).toMatchObject({ paused: true, note: 'paused by console-admin: incident 42: RPC degraded' });
      const statistics = await api.request('GET', '/api/refunds/pro-rata/statistics', { token: admin });
      expect(statistics.body.sweep).toMatchObject({ paused: true, note: 'paused by console-admin: incident 42: RPC degraded' });

      // A deploy re-applies the schedule: the pause and its note survive.
      await ensureSweepSchedule(api.client, { taskQueue: api.config.temporal.taskQueue, intervalMs: 3_600_000 });
      expect((await api.sweep.status()).paused).toBe(true);

      const unpaused = await post('unpause', { note: 'incident 42 resolved' });
      expect(unpaused.body).toMatchObject({ paused: false, note: 'unpaused by console-admin: incident 42 resolved' });
      expect(unpaused.body.nextRunAt).toEqual(expect.any(String));
    });

    test('a slow schedule description (a loaded Temporal) still gives the admin the state the action left, not "unknown"', async () => {
      await ensureSweepSchedule(api.client, { taskQueue: api.config.temporal.taskQueue, intervalMs: 3_600_000 });
      // The real schedule, described 2.5 s late: longer than /api/status waits for a probe (2 s), as happened in CI under load.
      const slowPost = await withSweep({ status: () => new Promise((resolve) => setTimeout(resolve, 2_500)).then(() => api.sweep.status()) });
      expect((await slowPost('pause', 'slow')).body).toMatchObject({ paused: true, note: 'paused by console-admin: slow' });
      expect((await slowPost('unpause', 'slow')).body).toMatchObject({ paused: false, note: 'unpaused by console-admin: slow' });
    });

    test('a description that does not show the action yet (Temporal applies it through the schedule\'s workflow) is asked for again', async () => {
      await ensureSweepSchedule(api.client, { taskQueue: api.config.temporal.taskQueue, intervalMs: 3_600_000 });
      // The real schedule, whose first description after each action is the one from before it.
      let before: Awaited<ReturnType<SweepControl['status']>> | undefined;
      const laggingPost = await withSweep({
        pause: async (note: string) => {
          before = await api.sweep.status();
          return api.sweep.pause(note);
        },
        unpause: async (note: string) => {
          before = await api.sweep.status();
          return api.sweep.unpause(note);
        },
        status: async (describeWithinMs?: number) => {
          const stale = before;
          before = undefined;
          return stale ?? api.sweep.status(describeWithinMs);
        },
      });
      expect((await laggingPost('pause', 'lag')).body).toMatchObject({ paused: true, note: 'paused by console-admin: lag' });
      expect((await laggingPost('unpause', 'lag')).body).toMatchObject({ paused: false, note: 'unpaused by console-admin: lag' });
    });

    test('a description that fails right after the action (seen in a full local run) is asked for again', async () => {
      await ensureSweepSchedule(api.client, { taskQueue: api.config.temporal.taskQueue, intervalMs: 3_600_000 });
      let failNext = false;
      const failingPost = await withSweep({
        pause: (note: string) => ((failNext = true), api.sweep.pause(note)),
        unpause: (note: string) => ((failNext = true), api.sweep.unpause(note)),
        // The route's own deadline is passed on, as to the real schedule: under a full suite's load one description can take seconds.
        status: async (describeWithinMs?: number) => {
          if (!failNext) return api.sweep.status(describeWithinMs);
          failNext = false;
          return { ...(await api.sweep.status(describeWithinMs)), paused: null, note: null, nextRunAt: null, error: 'Deadline exceeded' };
        },
      });
      expect((await failingPost('pause', 'flaky')).body).toMatchObject({ paused: true, note: 'paused by console-admin: flaky' });
      expect((await failingPost('unpause', 'flaky')).body).toMatchObject({ paused: false, note: 'unpaused by console-admin: flaky' });
    });

    test('a description that never shows the action answers, at the deadline, the last one Temporal gave, not an attempt left no time', async () => {
      await ensureSweepSchedule(api.client, { taskQueue: api.config.temporal.taskQueue, intervalMs: 3_600_000 });
      // The real schedule, described 400 ms late and never showing the pause: the last attempt before the deadline has less time than that.
      const sweep = Object.assign(Object.create(api.sweep) as SweepControl, {
        status: async (describeWithinMs?: number) => {
          const described = await api.sweep.status(describeWithinMs);
          await sleep(400);
          return { ...described, paused: false, note: 'as before the pause' };
        },
      });
      const services = { sweep, config: api.config, health: { schedule: { invalidate: () => undefined } } } as unknown as Parameters<typeof scheduleAfterAction>[0];
      const answer = await scheduleAfterAction(services, { paused: true, note: 'paused by console-admin: never shown' }, 1_500);
      expect(answer).toMatchObject({ paused: false, note: 'as before the pause' });
      expect(answer.error).toBeUndefined();
    });

    test('each pause and unpause answers with the state it left, however quickly they follow each other', async () => {
      await ensureSweepSchedule(api.client, { taskQueue: api.config.temporal.taskQueue, intervalMs: 3_600_000 });
      // Temporal applies a schedule change through the schedule's own workflow: a description asked for at once may not show it yet.
      for (let i = 0; i < 15; i += 1) {
        expect((await post('pause', { note: `round ${i}` })).body).toMatchObject({ paused: true, note: `paused by console-admin: round ${i}` });
        expect((await post('unpause', { note: `round ${i}` })).body).toMatchObject({ paused: false, note: `unpaused by console-admin: round ${i}` });
      }
    });

    test('the longest note the API takes fits in the schedule, with the admin\'s id before it', async () => {
      await ensureSweepSchedule(api.client, { taskQueue: api.config.temporal.taskQueue, intervalMs: 3_600_000 });
      const longest = 'n'.repeat(1000);
      const paused = await post('pause', { note: longest });
      expect(paused.status).toBe(200);
      expect(paused.body.error).toBeUndefined();
      expect(paused.body).toMatchObject({ paused: true, note: expect.stringMatching(/^paused by console-admin: n+/) });
      expect(paused.body.note.length).toBeLessThanOrEqual(1000);
      const unpaused = await post('unpause', { note: longest });
      expect(unpaused.status).toBe(200);
    });

    test('a repeated pause with the same Idempotency-Key is answered once', async () => {
      const send = () => api.request('POST', '/api/refunds/pro-rata/sweep/pause', { token: admin, body: { note: 'twice' }, headers: { 'Idempotency-Key': 'console-pause-1' } });
      const first = await send();
      const second = await send();
      expect(second.body).toEqual(first.body);
      expect(second.headers.get('idempotent-replayed')).toBe('true');
      await post('unpause');
    });
  });

  test('a refund workflow tells the Temporal Web UI what it pays, to whom, for which subscription', async () => {
    const { doc, subscriptionId } = await api.insertSubscription({ userId: 'summary-user' });
    const requested = await api.request('POST', '/api/refunds/pro-rata', { token: await api.token('summary-user', 'user'), body: { subscriptionId } });
    expect(requested.status).toBe(202);
    const description = await api.client.workflow.getHandle(requested.body.workflowId).describe();
    const summary = await description.staticSummary();
    const wallet = String(doc.userWalletAddress);
    expect(summary).toBe(`${requested.body.amountFormatted} ETH to ${wallet.slice(0, 10)}…${wallet.slice(-4)} — subscription ${subscriptionId}`);
    const details = await description.staticDetails();
    expect(details).toContain(`**Refund** \`${requested.body.refundId}\``);
    expect(details).toContain(`to \`${wallet}\``);
    expect(details).toContain(`**Auto-approves** ${requested.body.autoApproveAt}`);
    // The summary's amount is the one the workflow recorded: same function, instant and penalty.
    await waitFor(() => api.refunds.findById(requested.body.refundId), { until: (refund) => refund !== null, what: 'the record' });
    expect(summary).toContain(`${(await api.refunds.findById(requested.body.refundId))!.amountFormatted} ETH`);
  });
});
