import { Client, Connection as TemporalConnection } from '@temporalio/client';
import { ethers } from 'ethers';
import mongoose from 'mongoose';
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mintToken } from '../../src/api/auth';
import { within } from '../../src/api/within';
import { connectProvider } from '../../src/chain/treasury';
import { freePort } from '../../src/dev/processes';
import { startLocalServices, type LocalServices, type ServiceName } from '../../src/dev/services';
import { EMAIL_RULES, type RefundEventType } from '../../src/notifications/events';
import { migrate } from '../../src/persistence/migrate';
import { PayoutLedger } from '../../src/persistence/payout-ledger';
import { reconcile, type Difference } from '../../src/reconcile/reconcile';
import { RefundWorkflowClient } from '../../src/temporal/refund-client';
import { deployTestToken, tokenBalance } from '../support/erc20';
import { subscriptionDoc } from '../support/fixtures';
import { startHttpReceiver, type HttpReceiver } from '../support/http-receiver';
import { spawnWorkerProcess, type WorkerProcess } from '../support/processes';
import { startRpcProxy } from '../support/rpc-proxy';
import { sleep, waitFor } from '../support/wait';

/**
 * The fault campaign (`npm run chaos`): refunds through the real API, paid by
 * several worker processes, while workers are killed with SIGKILL (some right
 * after a payout is broadcast), the store and the Temporal server crash and
 * restart, the chain's RPC freezes and answers errors, and the email and
 * webhook receivers answer 500 for a while. At the end it proves nothing was
 * lost: every refund where its decisions put it, each recipient paid exactly
 * its completed refunds, record = workflow = chain (npm run reconcile), every
 * notification delivered, and the API answering 503 with a code (never 500)
 * during outages and recovering by itself.
 */
export interface CampaignOptions {
  refunds: number;
  /** Share of refunds paid in an ERC-20 token rather than ETH. */
  tokenShare: number;
  workers: number;
  workerKills: number;
  storeCrashes: number;
  temporalCrashes: number;
  rpcFreezes: number;
  rpcErrorBursts: number;
  receiverOutages: number;
  /** The window in which decisions are sent and faults injected. */
  durationMs: number;
  /** How long each outage lasts. */
  outageMs: number;
  seed: number;
  log: (line: string) => void;
}

export const FULL_CAMPAIGN: Omit<CampaignOptions, 'log'> = {
  refunds: 100,
  tokenShare: 0.3,
  workers: 3,
  workerKills: 24,
  storeCrashes: 2,
  temporalCrashes: 2,
  rpcFreezes: 2,
  rpcErrorBursts: 2,
  receiverOutages: 2,
  durationMs: 240_000,
  outageMs: 12_000,
  seed: 1,
};

export const SMALL_CAMPAIGN: Omit<CampaignOptions, 'log'> = {
  refunds: 10,
  tokenShare: 0.3,
  workers: 2,
  workerKills: 4,
  storeCrashes: 1,
  temporalCrashes: 1,
  rpcFreezes: 1,
  rpcErrorBursts: 1,
  receiverOutages: 1,
  durationMs: 45_000,
  outageMs: 6_000,
  seed: 7,
};

export interface CampaignResult {
  refunds: { total: number; completed: number; rejected: number; pending: number; retriedAfterFailure: number };
  faults: { at: number; what: string }[];
  api: { requests: number; byStatus: Record<string, number>; unavailableCodes: Record<string, number>; recovered: boolean };
  notifications: { expected: number; delivered: number; redeliveredSameId: number };
  differences: Difference[];
  /** Every way the campaign found something lost, paid twice, or wrong. Empty: nothing was. */
  losses: string[];
  durationMs: number;
}

const ETH = 10n ** 18n;
const root = path.resolve(__dirname, '..', '..');

type Plan = 'approve' | 'reject' | 'leave';

interface CampaignRefund {
  index: number;
  subscriptionId: string;
  userId: string;
  wallet: string;
  token: string | null;
  refundId?: string;
  amount?: bigint;
  plan: Plan;
  decidedAt?: number;
}

export async function runCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const started = Date.now();
  const random = seeded(options.seed);
  const log = (line: string) => options.log(`[chaos ${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}`);
  const losses: string[] = [];
  const faults: CampaignResult['faults'] = [];
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'prorata-chaos-'));
  fs.chmodSync(dataDir, 0o755);

  const services = await startLocalServices({ dataDir, log: (line) => log(line) });
  const proxy = await startRpcProxy(services.chainUrl);
  const [emails, webhooks] = await Promise.all([startHttpReceiver(), startHttpReceiver()]);
  const processes: { api?: ChildProcess; workers: WorkerProcess[] } = { workers: [] };
  let mongo: mongoose.Connection | undefined;
  let temporal: TemporalConnection | undefined;
  const provider = connectProvider(services.chainUrl, 31337, 200);

  try {
    // --- the product, configured like production, on local services ------------
    const treasuryKey = ethers.Wallet.createRandom().privateKey;
    const port = await freePort();
    const env: Record<string, string> = {
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      PORT: String(port),
      DB_URI: services.mongoUri.replace(/\/[^/]*$/, '/chaos'),
      TEMPORAL_ADDRESS: services.temporalAddress,
      TEMPORAL_TASK_QUEUE: `chaos-${crypto.randomBytes(4).toString('hex')}`,
      BLOCKCHAIN_PROVIDER_URL: proxy.url,
      BLOCKCHAIN_NETWORK: 'anvil',
      TREASURY_PRIVATE_KEY: treasuryKey,
      PAYOUT_STUCK_AFTER_MS: '5000',
      SENDGRID_API_KEY: 'SG.chaos',
      SENDGRID_API_URL: emails.url,
      ADMIN_WEBHOOK_URL: `${webhooks.url}/hooks/refunds`,
      ADMIN_WEBHOOK_SECRET: 'chaos-webhook-secret-0123456789',
      AUTH_JWT_SECRET: 'chaos-jwt-secret-0123456789abcdef0123456789',
      PRO_RATA_REFUND_AUTO_APPROVE_DAYS: '30',
      PRO_RATA_REFUND_SCHEDULE_INTERVAL: String(24 * 3600 * 1000),
      WORKER_METRICS_PORT: '0',
      WORKER_SHUTDOWN_GRACE_MS: '1000',
    };
    const treasury = new ethers.Wallet(treasuryKey, provider);
    await provider.send('anvil_setBalance', [treasury.address, ethers.toQuantity(10_000n * ETH)]);
    // The token comes from another account: every transaction of the treasury must be one the service signed.
    const deployer = new ethers.Wallet(ethers.Wallet.createRandom().privateKey, provider);
    await provider.send('anvil_setBalance', [deployer.address, ethers.toQuantity(10n * ETH)]);
    const token = await deployTestToken(deployer, { symbol: 'CHAOS', decimals: 6 });
    const tokenAddress = await token.getAddress();
    await (await token.getFunction('mint')(treasury.address, 10n ** 15n)).wait();

    mongo = await mongoose.createConnection(env.DB_URI!).asPromise();
    await migrate(mongo);
    const refunds: CampaignRefund[] = [];
    for (let index = 0; index < options.refunds; index += 1) {
      const wallet = ethers.Wallet.createRandom().address;
      const useToken = random() < options.tokenShare;
      const doc = subscriptionDoc({
        userId: `chaos-user-${index}`,
        userWalletAddress: wallet,
        status: 'active',
        cancelledAt: undefined,
        amountPaid: useToken ? '30000000' : (3n * ETH / 100n).toString(),
        currency: useToken ? { symbol: 'CHAOS', decimals: 6, tokenAddress } : { symbol: 'ETH', decimals: 18, tokenAddress: null },
      });
      await mongo.db!.collection('subscriptions').insertOne(doc);
      const roll = random();
      refunds.push({ index, subscriptionId: doc._id.toHexString(), userId: `chaos-user-${index}`, wallet, token: useToken ? tokenAddress : null, plan: roll < 0.8 ? 'approve' : roll < 0.9 ? 'reject' : 'leave' });
    }

    processes.api = startApi(env, log);
    await waitFor(() => fetch(`http://127.0.0.1:${port}/api/status`, { signal: AbortSignal.timeout(2_000) }).then((response) => response.status), {
      until: (status) => status < 500,
      what: 'the API to answer',
      timeoutMs: 120_000,
      intervalMs: 250,
    });
    await Promise.all(Array.from({ length: options.workers }, () => startSupervised(processes, env, log)));
    log(`product up: API on ${port}, ${options.workers} workers, treasury ${treasury.address}, token ${tokenAddress}`);

    const api = apiClient(`http://127.0.0.1:${port}`, env.AUTH_JWT_SECRET!);
    const probes = startProbes(api, log);

    // --- requests, then decisions and faults spread over the window ---------------
    for (const refund of refunds) {
      const created = await api.call('POST', '/api/refunds/pro-rata', { sub: refund.userId, role: 'user' }, { subscriptionId: refund.subscriptionId, reason: 'chaos' });
      refund.refundId = (created.body as { refundId: string }).refundId;
      refund.amount = BigInt((created.body as { amount: string }).amount);
    }
    log(`${refunds.length} refunds requested through the API`);

    const windowStart = Date.now();
    const at = () => Date.now() - windowStart;
    const timeline = [
      ...refunds.filter((refund) => refund.plan !== 'leave').map((refund) => ({ at: random() * options.durationMs, run: () => decide(api, refund, log) })),
      ...schedule(options.workerKills, options.durationMs, random, (i) => async () => {
        faults.push({ at: at(), what: i % 2 === 0 ? 'kill -9 a worker right after a broadcast' : 'kill -9 a worker' });
        await killWorker(processes, env, i % 2 === 0 ? mongo! : null, random, log);
      }),
      ...schedule(options.storeCrashes, options.durationMs, random, () => async () => {
        faults.push({ at: at(), what: 'kill -9 the store, restart it' });
        await outage(services, 'store', options.outageMs, log);
      }),
      ...schedule(options.temporalCrashes, options.durationMs, random, () => async () => {
        faults.push({ at: at(), what: 'kill -9 the Temporal server, restart it' });
        await outage(services, 'temporal', options.outageMs, log);
      }),
      ...schedule(options.rpcFreezes, options.durationMs, random, () => async () => {
        faults.push({ at: at(), what: 'the chain RPC frozen (SIGSTOP), then SIGCONT' });
        log('chain RPC frozen');
        services.controls.freeze('anvil', true);
        await sleep(options.outageMs);
        services.controls.freeze('anvil', false);
        log('chain RPC thawed');
      }),
      ...schedule(options.rpcErrorBursts, options.durationMs, random, () => async () => {
        faults.push({ at: at(), what: 'the chain RPC answering errors' });
        log('chain RPC answers errors');
        proxy.intercept(() => ({ error: { code: -32603, message: 'chaos: upstream node unavailable' } }));
        await sleep(options.outageMs);
        proxy.intercept(null);
        log('chain RPC answers again');
      }),
      ...schedule(options.receiverOutages, options.durationMs, random, () => async () => {
        faults.push({ at: at(), what: 'email and webhook receivers answering 500' });
        log('receivers answer 500');
        emails.failAll(true);
        webhooks.failAll(true);
        await sleep(options.outageMs);
        emails.failAll(false);
        webhooks.failAll(false);
        log('receivers recovered');
      }),
    ].sort((a, b) => a.at - b.at);
    await Promise.all(timeline.map(async (event) => {
      await sleep(Math.max(0, event.at - at()));
      await event.run();
    }));
    log(`window over: ${faults.length} faults injected`);

    // --- let everything finish; an operator retries what failed for good ----------
    temporal = await TemporalConnection.connect({ address: services.temporalAddress });
    const refundClient = new RefundWorkflowClient(new Client({ connection: temporal }), { taskQueue: env.TEMPORAL_TASK_QUEUE!, autoApproveAfterMs: 0, penaltyBps: 0 });
    let retried = 0;
    const deadline = Date.now() + 300_000;
    for (const refund of refunds.filter((candidate) => candidate.plan !== 'leave')) {
      const wanted = refund.plan === 'approve' ? 'completed' : 'rejected';
      for (;;) {
        const current = (await api.call('GET', `/api/refunds/pro-rata/${refund.refundId}`, { sub: 'chaos-admin', role: 'admin' })).body as { refundStatus: string; retryable: boolean | null; failureReason: string | null };
        if (current.refundStatus === wanted) break;
        if (current.refundStatus === 'failed' && current.retryable) {
          log(`refund ${refund.index} failed (${current.failureReason}): retried as an operator would`);
          retried += 1;
          await api.call('POST', `/api/refunds/pro-rata/${refund.refundId}/retry`, { sub: 'chaos-admin', role: 'admin' }, { note: 'after the chaos' });
        }
        if (Date.now() > deadline) {
          losses.push(`refund ${refund.index} (${refund.refundId}) is ${current.refundStatus}, expected ${wanted}`);
          break;
        }
        await sleep(1_000);
      }
    }
    // The decided refunds' workflows end once their notifications are delivered (or recorded as failed).
    await Promise.all(
      refunds
        .filter((refund) => refund.plan !== 'leave')
        .map((refund) => within(refundClient.result({ subscriptionId: refund.subscriptionId }), 120_000).catch(() => undefined)),
    );
    const apiSummary = await probes.stop();

    // --- the checks -----------------------------------------------------------------
    for (const refund of refunds) {
      const record = (await api.call('GET', `/api/refunds/pro-rata/${refund.refundId}`, { sub: 'chaos-admin', role: 'admin' })).body as { refundStatus: string };
      if (refund.plan === 'leave' && record.refundStatus !== 'pending_approval') losses.push(`refund ${refund.index} was never decided but is ${record.refundStatus}`);
      const paid = record.refundStatus === 'completed' ? refund.amount! : 0n;
      const balance = refund.token ? await tokenBalance(refund.token, refund.wallet, provider) : await provider.getBalance(refund.wallet);
      if (balance !== paid) losses.push(`refund ${refund.index}: wallet ${refund.wallet} holds ${balance}, its completed refunds total ${paid}${balance > paid ? ' (PAID TWICE?)' : ' (MISSING)'}`);
    }
    const report = await reconcile({
      mongo,
      ledger: new PayoutLedger(mongo),
      refundClient,
      provider,
      chainId: 31337,
      confirmations: 1,
      treasury: treasury.address,
    });
    for (const difference of report.differences) losses.push(`reconcile: ${difference.kind} ${difference.refundId ?? difference.txHash ?? ''}: ${difference.detail}`);

    const notifications = checkNotifications(refunds, await recordsOf(mongo), emails, webhooks);
    losses.push(...notifications.missing);
    if (apiSummary.byStatus['500']) losses.push(`the API answered 500 ${apiSummary.byStatus['500']} time(s)`);
    if (apiSummary.unavailableCodes['NO CODE']) losses.push(`the API answered 503 without saying what is down ${apiSummary.unavailableCodes['NO CODE']} time(s)`);
    if (!apiSummary.recovered) losses.push('the API did not answer 200 to /api/status once everything was back');

    return {
      refunds: {
        total: refunds.length,
        completed: refunds.filter((refund) => refund.plan === 'approve').length,
        rejected: refunds.filter((refund) => refund.plan === 'reject').length,
        pending: refunds.filter((refund) => refund.plan === 'leave').length,
        retriedAfterFailure: retried,
      },
      faults,
      api: apiSummary,
      notifications: { expected: notifications.expected, delivered: notifications.delivered, redeliveredSameId: notifications.redelivered },
      differences: report.differences,
      losses,
      durationMs: Date.now() - started,
    };
  } finally {
    services.controls.freeze('anvil', false);
    await Promise.all(processes.workers.map((worker) => worker.kill('SIGKILL')));
    processes.api?.kill('SIGKILL');
    provider.destroy();
    await temporal?.close().catch(() => undefined);
    await mongo?.close().catch(() => undefined);
    await Promise.all([emails.close(), webhooks.close(), proxy.close()]);
    await services.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Prints a campaign's result; true when nothing was lost. */
export function describeResult(result: CampaignResult, log: (line: string) => void): boolean {
  log(`refunds            ${result.refunds.total}: ${result.refunds.completed} to complete, ${result.refunds.rejected} to reject, ${result.refunds.pending} never decided; ${result.refunds.retriedAfterFailure} retried by the operator after failing`);
  const kinds = new Map<string, number>();
  for (const fault of result.faults) kinds.set(fault.what, (kinds.get(fault.what) ?? 0) + 1);
  log(`faults injected    ${result.faults.length}: ${[...kinds].map(([what, count]) => `${count}× ${what}`).join('; ')}`);
  log(`API answers        ${result.api.requests}: ${Object.entries(result.api.byStatus).map(([status, count]) => `${status} ×${count}`).join(', ')}; 503 codes: ${Object.entries(result.api.unavailableCodes).map(([code, count]) => `${code} ×${count}`).join(', ') || 'none'}; recovered: ${result.api.recovered ? 'yes' : 'NO'}`);
  log(`notifications      ${result.notifications.delivered} of ${result.notifications.expected} delivered; ${result.notifications.redeliveredSameId} delivered again with the same id (receivers dedupe)`);
  log(`reconcile          ${result.differences.length} difference(s)`);
  log(`duration           ${(result.durationMs / 1000).toFixed(0)} s`);
  if (result.losses.length === 0) {
    log('RESULT             nothing lost, nothing paid twice');
    return true;
  }
  log(`RESULT             ${result.losses.length} problem(s):`);
  for (const loss of result.losses) log(`  - ${loss}`);
  return false;
}

// --- the product's processes ----------------------------------------------------

function startApi(env: Record<string, string>, log: (line: string) => void): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'api', 'main.ts')], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (chunk: Buffer) => {
    const text = chunk.toString().trim();
    if (text) log(`api stderr: ${text.slice(0, 300)}`);
  });
  return child;
}

async function killWorker(processes: { workers: WorkerProcess[] }, env: Record<string, string>, afterBroadcastIn: mongoose.Connection | null, random: () => number, log: (line: string) => void) {
  if (afterBroadcastIn) {
    // Right after the next payout goes out: the transaction is in the pool, its confirmation not yet seen.
    const attempts = afterBroadcastIn.db!.collection('payoutattempts');
    const seen = await attempts.countDocuments({ broadcasts: { $gt: 0 } });
    await waitFor(() => attempts.countDocuments({ broadcasts: { $gt: 0 } }), { until: (count) => count !== seen, what: 'the next broadcast', timeoutMs: 15_000 }).catch(() => undefined); // none: kill anyway
  }
  const victim = processes.workers.splice(Math.floor(random() * processes.workers.length), 1)[0];
  if (!victim) return;
  await victim.kill('SIGKILL');
  log(`worker killed (-9)${afterBroadcastIn ? ' right after a broadcast' : ''}`);
  await sleep(500 + random() * 2_000);
  await startSupervised(processes, env, log);
}

/**
 * What a process supervisor (PM2, Kubernetes) does: start a worker, and start another if it dies before it
 * runs. One not ready after READY_TIMEOUT_MS is taken for stuck, and stopped before it is replaced: left
 * running, it served the queue unseen and outlived the campaign, holding the process that ran it open.
 */
export async function startSupervised(
  processes: { workers: WorkerProcess[] },
  env: Record<string, string>,
  log: (line: string) => void,
  { spawn = (workerEnv) => spawnWorkerProcess(workerEnv, { readyTimeoutMs: READY_TIMEOUT_MS }), attempts = 20 }: { spawn?: (env: Record<string, string>) => WorkerProcess; attempts?: number } = {},
): Promise<void> {
  for (let attempt = 1; attempt <= attempts; attempt += 1) {
    const worker = spawn(env);
    processes.workers.push(worker);
    try {
      await worker.ready;
      return;
    } catch (error) {
      await worker.kill('SIGKILL');
      // A worker kill may have taken it out of the list already (it picks starting workers too); indexOf -1 would
      // make splice drop the last worker instead, which then ran on unseen, never stopped.
      const index = processes.workers.indexOf(worker);
      if (index >= 0) processes.workers.splice(index, 1);
      log(`a worker did not come up (restarting it): ${(error as Error).message.split('\n')[0]!.slice(0, 200)}`);
      await sleep(1_000);
    }
  }
}

/** Generous: on a loaded 2-core machine a worker (tsx, then webpack over the workflows) can take minutes to start. */
const READY_TIMEOUT_MS = 300_000;

async function outage(services: LocalServices, name: ServiceName, ms: number, log: (line: string) => void) {
  log(`${name} killed (-9)`);
  await services.controls.crash(name);
  await sleep(ms);
  await services.controls.restart(name);
  log(`${name} restarted`);
}

// --- the API as its clients see it ----------------------------------------------

interface ApiAnswer {
  status: number;
  body: unknown;
}

function apiClient(base: string, secret: string) {
  const tokens = new Map<string, Promise<string>>();
  const tokenOf = (caller: { sub: string; role: 'user' | 'creator' | 'admin' }) => {
    const key = `${caller.role}:${caller.sub}`;
    if (!tokens.has(key)) tokens.set(key, mintToken(secret, caller, '2h'));
    return tokens.get(key)!;
  };
  const once = async (method: string, pathname: string, caller: { sub: string; role: 'user' | 'creator' | 'admin' } | null, body?: unknown, idempotencyKey?: string): Promise<ApiAnswer> => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (caller) headers.authorization = `Bearer ${await tokenOf(caller)}`;
    if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
    const response = await fetch(`${base}${pathname}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined };
  };
  return {
    once,
    /** A call the way a careful client makes it: the same Idempotency-Key on every try, retried while the service is unavailable. */
    async call(method: string, pathname: string, caller: { sub: string; role: 'user' | 'creator' | 'admin' }, body?: unknown): Promise<ApiAnswer> {
      const key = method === 'POST' ? crypto.randomUUID() : undefined;
      for (let attempt = 0; ; attempt += 1) {
        const answer = await once(method, pathname, caller, body ?? (method === 'POST' ? {} : undefined), key).catch((error: Error) => ({ status: 0, body: { error: { code: error.name } } }));
        if (answer.status >= 200 && answer.status < 300) return answer;
        const code = (answer.body as { error?: { code?: string } } | undefined)?.error?.code;
        const transient = answer.status === 0 || answer.status === 503 || (answer.status === 409 && code === 'IDEMPOTENCY_IN_PROGRESS');
        if (!transient || attempt > 600) throw new Error(`${method} ${pathname} answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`);
        await sleep(Math.min(2_000, 200 * (attempt + 1)));
      }
    },
  };
}

async function decide(api: ReturnType<typeof apiClient>, refund: CampaignRefund, log: (line: string) => void) {
  const admin = { sub: 'chaos-admin', role: 'admin' as const };
  try {
    if (refund.plan === 'approve') await api.call('POST', `/api/refunds/pro-rata/${refund.refundId}/approve`, admin, { note: 'chaos' });
    else await api.call('POST', `/api/refunds/pro-rata/${refund.refundId}/reject`, admin, { reason: 'chaos says no' });
    refund.decidedAt = Date.now();
  } catch (error) {
    log(`decision on refund ${refund.index} failed: ${(error as Error).message}`);
  }
}

/** Asks /api/status and a list every 500 ms during the campaign: the answers clients would have seen. */
function startProbes(api: ReturnType<typeof apiClient>, log: (line: string) => void) {
  const byStatus: Record<string, number> = {};
  const unavailableCodes: Record<string, number> = {};
  let requests = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const [pathname, caller] of [
        ['/api/status', null],
        ['/api/refunds/pro-rata/pending/all?limit=5', { sub: 'chaos-admin', role: 'admin' as const }],
      ] as const) {
        const answer = await api.once('GET', pathname, caller).catch(() => ({ status: 0, body: undefined }));
        requests += 1;
        byStatus[String(answer.status)] = (byStatus[String(answer.status)] ?? 0) + 1;
        if (answer.status === 503) {
          const code = unavailableCodeOf(answer.body);
          unavailableCodes[code] = (unavailableCodes[code] ?? 0) + 1;
        }
        if (answer.status === 500) log(`API answered 500 to ${pathname}: ${JSON.stringify(answer.body).slice(0, 200)}`);
      }
      await sleep(500);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const recovered = await waitFor(() => api.once('GET', '/api/status', null).then((answer) => answer.status), {
        until: (status) => status === 200,
        what: 'the API to answer /api/status with 200',
        timeoutMs: 30_000,
        intervalMs: 1_000,
      }).then(
        () => true,
        () => false,
      );
      return { requests, byStatus, unavailableCodes, recovered };
    },
  };
}

/** What a 503 says is down: the error code, or for /api/status the dependency its body marks unreachable. */
function unavailableCodeOf(body: unknown): string {
  const error = (body as { error?: { code?: string } } | undefined)?.error?.code;
  if (error) return error;
  const health = body as { mongo?: { reachable: boolean }; temporal?: { reachable: boolean } } | undefined;
  const down = [health?.mongo?.reachable === false ? 'mongo' : null, health?.temporal?.reachable === false ? 'temporal' : null].filter(Boolean);
  return down.length > 0 ? `status: ${down.join(' and ')} unreachable` : 'NO CODE';
}

// --- notifications ----------------------------------------------------------------

async function recordsOf(mongo: mongoose.Connection): Promise<Map<string, { refundStatus: string; statusHistory: { status: string }[] }>> {
  const records = await mongo.db!.collection('proratarefunds').find({}).toArray();
  return new Map(records.map((record) => [String(record._id), record as never]));
}

/** Every event a refund's history calls for reached the webhook and each email recipient, at least once. */
function checkNotifications(refunds: CampaignRefund[], records: Map<string, { refundStatus: string; statusHistory: { status: string }[] }>, emails: HttpReceiver, webhooks: HttpReceiver) {
  const delivered = new Map<string, number>();
  for (const request of webhooks.requests) {
    if (request.status >= 300) continue;
    const id = (request.json as { id?: string } | undefined)?.id;
    if (id) delivered.set(`webhook:${id}`, (delivered.get(`webhook:${id}`) ?? 0) + 1);
  }
  for (const request of emails.requests) {
    if (request.status >= 300) continue;
    const mail = request.json as { personalizations?: { to?: { email: string }[] }[]; custom_args?: Record<string, string>; content?: { value: string }[] } | undefined;
    const to = mail?.personalizations?.[0]?.to?.[0]?.email;
    const text = JSON.stringify(mail);
    const eventId = /evt_rf_[0-9a-f]+_\d+_[a-z]+/.exec(text)?.[0];
    if (to && eventId) delivered.set(`email:${to}:${eventId}`, (delivered.get(`email:${to}:${eventId}`) ?? 0) + 1);
  }
  const missing: string[] = [];
  let expected = 0;
  for (const refund of refunds) {
    const record = records.get(refund.refundId!);
    if (!record) continue;
    record.statusHistory.forEach((change, index) => {
      const type = eventTypeOf(change.status);
      if (!type) return;
      const eventId = `evt_${refund.refundId}_${index + 1}_${type.slice('refund.'.length)}`;
      const wanted = [`webhook:${eventId}`];
      if (EMAIL_RULES[type].user) wanted.push(`email:subscriber@example.com:${eventId}`);
      if (EMAIL_RULES[type].finance) wanted.push(`email:finance@example.com:${eventId}`);
      for (const key of wanted) {
        expected += 1;
        if (!delivered.has(key)) missing.push(`notification ${key} never delivered`);
      }
    });
  }
  const redelivered = [...delivered.values()].reduce((sum, count) => sum + (count - 1), 0);
  return { expected, delivered: expected - missing.length, redelivered, missing };
}

function eventTypeOf(status: string): RefundEventType | null {
  const types: Record<string, RefundEventType> = {
    pending_approval: 'refund.requested',
    approved: 'refund.approved',
    rejected: 'refund.rejected',
    cancelled: 'refund.cancelled',
    completed: 'refund.completed',
    failed: 'refund.failed',
  };
  return types[status] ?? null;
}

// --- small things -----------------------------------------------------------------

function schedule(count: number, windowMs: number, random: () => number, make: (index: number) => () => Promise<void>) {
  return Array.from({ length: count }, (_, index) => ({ at: random() * windowMs, run: make(index) }));
}

/** mulberry32: the same campaign for the same seed (fault times, plans, currencies). */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

