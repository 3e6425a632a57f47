import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ethers } from 'ethers';
import { Types, type Connection } from 'mongoose';
import { mintToken, type Role } from '../api/auth';
import { connectTreasury } from '../chain/treasury';
import { loadConfig, type Config } from '../config';
import { freePort, startProcess, waitUntilReady, type ManagedProcess } from '../dev/processes';
import { ensureSchemathesis, type Schemathesis } from '../dev/schemathesis';
import { startLocalServices, type LocalServices } from '../dev/services';
import { createLogger } from '../logger';
import { migrate } from '../persistence/migrate';
import { connectMongo } from '../persistence/mongo';
import { subscriptionModel } from '../persistence/subscription-model';

/**
 * `npm run test:contract`: does the server keep the contract its own OpenAPI
 * document states? Starts the local services on free ports with throw-away data,
 * a worker and the API against them, seeds subscriptions and refunds owned by a
 * test user and creator, and runs schemathesis (pinned, in a cached virtual
 * environment) with every check, once per role, then once more through the
 * OpenAPI links create -> get -> approve with the user creating and the admin
 * deciding. Any failure exits non-zero.
 */

const USAGE = 'usage: npm run test:contract -- [--max-examples 15] [--seed <n>] [--only user,creator,admin,lifecycle] [--keep]';
const ROOT = path.resolve(__dirname, '..', '..');

/** Who the fuzzer acts as; their ids own the seeded data. */
const PRINCIPALS = { user: 'contract-user', creator: 'contract-creator', admin: 'contract-admin' } as const satisfies Record<Role, string>;
/** Eligible subscriptions of the test user: every successful create uses one up. */
const SEEDED_SUBSCRIPTIONS = 300;
const DEV_TREASURY_FUNDS = ethers.parseEther('10000');

interface Options {
  maxExamples: number;
  seed?: number;
  only: Set<string>;
  keep: boolean;
}

export async function run(args: string[]): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(args);
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 64;
  }
  const started = Date.now();
  const schemathesis = await ensureSchemathesis(log);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'prorata-contract-'));
  log(`working directory (logs, schemathesis configs and reports): ${workDir}`);
  let services: LocalServices | undefined;
  const children: ManagedProcess[] = [];
  const crashes: string[] = [];
  let stopping = false;
  let failed = true;
  try {
    services = await startLocalServices({ log: (line) => console.log(line) });
    const port = await freePort();
    const env = stackEnv(services, port);
    const config = loadConfig(env);
    const seeded = await prepareStore(config);
    children.push(startTs('worker', 'src/temporal/worker-main.ts', env, workDir), startTs('api', 'src/api/main.ts', env, workDir));
    const baseUrl = `http://127.0.0.1:${port}`;
    await waitUntilReady('the API and its sweep schedule', () => sweepScheduleReady(baseUrl), { timeoutMs: 120_000, process: children[1] });
    for (const child of children) {
      void child.exited.then((code) => {
        if (stopping) return;
        crashes.push(child.name);
        log(`the ${child.name} exited (${code}) during the check; its log: ${child.logFile}`);
      });
    }

    const tokens = await mintTokens(config);
    const refundIds = await seedRefunds(baseUrl, tokens, config, seeded.splice(0, 6));
    // Each run that creates refunds gets subscriptions of its own: the generator keeps drawing the first entries
    // of a dictionary, and those would already have a refund from an earlier run (409, and no chain to follow).
    const forLifecycle = seeded.splice(0, Math.floor(seeded.length / 2)).map(String);
    const forRoles = seeded.map(String);
    log(`seeded ${forRoles.length + forLifecycle.length} open subscriptions and ${refundIds.length} refunds; API at ${baseUrl}; stack ready in ${seconds(started)} s`);

    const results: { run: string; code: number; seconds: number }[] = [];
    for (const scenario of scenarios(tokens)) {
      if (!options.only.has(scenario.name)) continue;
      const runStarted = Date.now();
      const subscriptionIds = scenario.name === 'lifecycle' ? forLifecycle : forRoles;
      const configFile = path.join(workDir, `schemathesis-${scenario.name}.toml`);
      fs.writeFileSync(configFile, schemathesisConfig(scenario, { subscriptionIds, refundIds }));
      log(`schemathesis ${schemathesis.version} as ${scenario.describe}`);
      const before = await fuzzedRefunds(baseUrl, tokens.admin, refundIds);
      let code = await runSchemathesis(schemathesis, configFile, baseUrl, scenario, workDir, options);
      if (scenario.name === 'lifecycle') {
        const after = await fuzzedRefunds(baseUrl, tokens.admin, refundIds);
        const followed = { created: after.created - before.created, approved: after.approved - before.approved };
        log(`lifecycle: ${followed.created} refunds created, ${followed.approved} of them then approved by the admin`);
        if (followed.approved === 0) {
          log('lifecycle: the stateful phase never went from a created refund to its approval: the links create -> get -> approve were not exercised');
          code ||= 1;
        }
      }
      results.push({ run: scenario.name, code, seconds: seconds(runStarted) });
    }
    for (const name of crashes) results.push({ run: `${name} process`, code: 1, seconds: 0 });

    console.log('');
    for (const result of results) log(`${result.code === 0 ? 'passed' : 'FAILED'}  ${result.run.padEnd(16)} ${result.seconds} s`);
    failed = results.some((result) => result.code !== 0);
    log(`${failed ? 'the server and its OpenAPI document disagree (see above)' : 'the server keeps its OpenAPI contract'}; total ${seconds(started)} s`);
    return failed ? 1 : 0;
  } finally {
    stopping = true;
    await Promise.all(children.map((child) => child.stop(20_000)));
    await services?.stop();
    if (failed || options.keep) log(`logs and reports kept in ${workDir}`);
    else fs.rmSync(workDir, { recursive: true, force: true });
  }
}

export function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: { 'max-examples': { type: 'string', default: '15' }, seed: { type: 'string' }, only: { type: 'string' }, keep: { type: 'boolean', default: false } },
    strict: true,
  });
  const maxExamples = Number(values['max-examples']);
  if (!Number.isInteger(maxExamples) || maxExamples < 1) throw new Error('--max-examples must be a positive integer');
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  if (seed !== undefined && !Number.isInteger(seed)) throw new Error('--seed must be an integer');
  const names = ['user', 'creator', 'admin', 'lifecycle'];
  const only = new Set(values.only ? values.only.split(',').map((name) => name.trim()) : names);
  for (const name of only) if (!names.includes(name)) throw new Error(`--only: unknown run ${name}`);
  return { maxExamples, seed, only, keep: values.keep ?? false };
}

function log(line: string): void {
  console.log(`[contract] ${line}`);
}

function seconds(since: number): number {
  return Math.round((Date.now() - since) / 1000);
}

/**
 * The API's and worker's environment: only this, so the caller's shell cannot
 * point them at real services (and they run in the working directory, so no
 * `.env` is read either). Development defaults for the secrets; no SendGrid key
 * (emails are logged) and no webhook.
 */
function stackEnv(services: LocalServices, port: number): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
    PORT: String(port),
    DB_URI: services.mongoUri,
    TEMPORAL_ADDRESS: services.temporalAddress,
    TEMPORAL_TASK_QUEUE: 'prorata-contract',
    BLOCKCHAIN_PROVIDER_URL: services.chainUrl,
    BLOCKCHAIN_NETWORK: 'anvil',
    PAYOUT_CONFIRMATIONS: '1',
    WORKER_METRICS_PORT: '0',
    WORKER_SHUTDOWN_GRACE_MS: '2000',
  };
}

function startTs(name: string, entry: string, env: NodeJS.ProcessEnv, workDir: string): ManagedProcess {
  const tsx = pathToFileURL(require.resolve('tsx')).href;
  return startProcess(name, process.execPath, ['--import', tsx, path.join(ROOT, entry)], path.join(workDir, `${name}.log`), env, workDir);
}

/**
 * Indexes, a funded treasury, and subscriptions of the test user that can be
 * refunded now. They are active, not cancelled: the sweep (POST /trigger, which
 * the admin run calls) starts a refund for every cancelled one, and would leave
 * none for the runs that create refunds.
 */
async function prepareStore(config: Config): Promise<Types.ObjectId[]> {
  await fundTreasury(config, DEV_TREASURY_FUNDS);
  const mongo = await connectMongo(config.db.uri, createLogger('error'));
  try {
    await migrate(mongo);
    return await seedSubscriptions(mongo);
  } finally {
    await mongo.close();
  }
}

async function fundTreasury(config: Config, wei: bigint): Promise<void> {
  const treasury = await connectTreasury(config.chain);
  try {
    await treasury.provider.send('anvil_setBalance', [treasury.address, ethers.toQuantity(wei)]);
  } finally {
    treasury.provider.destroy();
  }
}

async function seedSubscriptions(mongo: Connection): Promise<Types.ObjectId[]> {
  const day = 24 * 60 * 60 * 1000;
  const now = Date.now();
  const docs = Array.from({ length: SEEDED_SUBSCRIPTIONS }, () => ({
    _id: new Types.ObjectId(),
    userId: PRINCIPALS.user,
    creatorId: PRINCIPALS.creator,
    userWalletAddress: ethers.Wallet.createRandom().address,
    userEmail: 'contract-user@example.com',
    amountPaid: '1000000000000000000',
    currency: { symbol: 'ETH', decimals: 18, tokenAddress: null },
    startDate: new Date(now - 10 * day),
    endDate: new Date(now + 20 * day),
    status: 'active',
    refundEligible: true,
    refundWindowDays: 30,
    isRefundApplied: false,
  }));
  await subscriptionModel(mongo).collection.insertMany(docs);
  return docs.map((doc) => doc._id);
}

export type Tokens = Record<Role, string>;

async function mintTokens(config: Config): Promise<Tokens> {
  const entries = await Promise.all((Object.keys(PRINCIPALS) as Role[]).map(async (role) => [role, await mintToken(config.auth.jwtSecret, { sub: PRINCIPALS[role], role }, '2h')] as const));
  return Object.fromEntries(entries) as Tokens;
}

/** Ready once the worker has created the sweep schedule: before that POST /trigger answers 503. */
async function sweepScheduleReady(baseUrl: string): Promise<void> {
  const response = await fetch(`${baseUrl}/api/status`, { signal: AbortSignal.timeout(5_000) });
  const body = (await response.json()) as { status?: string; proRataRefunds?: { schedule?: { error?: string; nextRunAt?: string | null } } };
  if (response.status !== 200 || body.proRataRefunds?.schedule?.error || !body.proRataRefunds?.schedule?.nextRunAt) {
    throw new Error(`not ready: ${response.status} ${JSON.stringify(body.proRataRefunds?.schedule ?? body)}`);
  }
}

/**
 * Refunds in the states the decision routes care about, made through the API
 * itself: pending, completed (paid on anvil), rejected, cancelled, and failed
 * (approved while the treasury was empty), so that a retry can succeed. Their
 * ids are offered to the fuzzer beside the ids it invents.
 */
async function seedRefunds(baseUrl: string, tokens: Tokens, config: Config, subscriptionIds: Types.ObjectId[]): Promise<string[]> {
  const call = async (method: string, route: string, token: string, body?: unknown) => {
    const response = await fetch(`${baseUrl}/api/refunds/pro-rata${route}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await response.json()) as { refundId?: string; refundStatus?: string };
    if (response.status >= 300) throw new Error(`seeding: ${method} ${route} answered ${response.status} ${JSON.stringify(json)}`);
    return json;
  };
  const until = async (refundId: string, status: string) => {
    const deadline = Date.now() + 60_000;
    while ((await call('GET', `/${refundId}`, tokens.admin)).refundStatus !== status) {
      if (Date.now() > deadline) throw new Error(`seeding: refund ${refundId} was not ${status} within 60 s`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };
  const refundIds: string[] = [];
  for (const subscriptionId of subscriptionIds) {
    const refund = await call('POST', '', tokens.user, { subscriptionId: subscriptionId.toHexString(), reason: 'contract check' });
    refundIds.push(refund.refundId!);
  }
  const [toComplete, toReject, toCancel, toFail] = refundIds as [string, string, string, string];
  await call('POST', `/${toReject}/reject`, tokens.admin, { reason: 'contract check' });
  await call('POST', `/${toCancel}/cancel`, tokens.user, {});
  await call('POST', `/${toComplete}/approve`, tokens.admin, { note: 'contract check' });
  await until(toComplete, 'completed');
  await fundTreasury(config, 0n);
  try {
    await call('POST', `/${toFail}/approve`, tokens.admin, { note: 'contract check: the treasury is empty' });
    await until(toFail, 'failed');
  } finally {
    await fundTreasury(config, DEV_TREASURY_FUNDS);
  }
  return refundIds;
}

/** Refunds of the test user that the fuzzer made (not seeded), and how many of those the admin approved. */
async function fuzzedRefunds(baseUrl: string, adminToken: string, seeded: string[]): Promise<{ created: number; approved: number }> {
  type Page = { items: { refundId: string; statusHistory: { status: string; by: string }[] }[]; nextCursor: string | null };
  let created = 0;
  let approved = 0;
  let cursor: string | null = null;
  do {
    const query: string = `limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const response = await fetch(`${baseUrl}/api/refunds/pro-rata/user/${PRINCIPALS.user}?${query}`, { headers: { authorization: `Bearer ${adminToken}` } });
    if (response.status !== 200) throw new Error(`listing the fuzzer's refunds: ${response.status} ${await response.text()}`);
    const page = (await response.json()) as Page;
    for (const refund of page.items.filter((item) => !seeded.includes(item.refundId))) {
      created += 1;
      if (refund.statusHistory.some((change) => change.status === 'approved' && change.by === PRINCIPALS.admin)) approved += 1;
    }
    cursor = page.nextCursor;
  } while (cursor);
  return { created, approved };
}

export interface Scenario {
  name: string;
  describe: string;
  /** The Authorization header of every request, except where `perOperation` says otherwise. */
  token: string;
  perOperation?: Record<string, string>;
  phases?: string;
  /** Only schema-valid requests: the other runs send the invalid ones; this one is about the chain going through. */
  positiveOnly?: boolean;
  /** Times --max-examples: the stateful phase alone is quick, and its scenarios are what it is for. */
  examplesFactor?: number;
  /**
   * Follow only the document's own links. Inferred ones (from list answers) give schemathesis GET-only
   * entry points it prefers over POST / (whose subscriptionId no operation produces), and the chain
   * create -> get -> approve would never start.
   */
  documentedLinksOnly?: boolean;
}

export function scenarios(tokens: Tokens): Scenario[] {
  return [
    { name: 'user', describe: `the user ${PRINCIPALS.user} (all phases, every operation)`, token: tokens.user },
    { name: 'creator', describe: `the creator ${PRINCIPALS.creator} (all phases, every operation)`, token: tokens.creator },
    { name: 'admin', describe: `the admin ${PRINCIPALS.admin} (all phases, every operation)`, token: tokens.admin },
    {
      name: 'lifecycle',
      describe: 'the user creating and cancelling, the admin reading and deciding (stateful phase: OpenAPI links create -> get -> approve)',
      token: tokens.admin,
      perOperation: { requestRefund: tokens.user, cancelRefund: tokens.user },
      phases: 'stateful',
      positiveOnly: true,
      examplesFactor: 5,
      documentedLinksOnly: true,
    },
  ];
}

/** schemathesis.toml of one run: who calls, and the seeded ids the generator mixes into what it invents. */
export function schemathesisConfig(scenario: Scenario, seeded: { subscriptionIds: string[]; refundIds: string[] }): string {
  const quoted = (values: string[]) => `[${values.map((value) => JSON.stringify(value)).join(', ')}]`;
  const lines = [
    `headers = { Authorization = ${JSON.stringify(`Bearer ${scenario.token}`)} }`,
    // A contract check, not a latency test: on a loaded machine (CI, shared cores) an answer may take a while.
    'request-timeout = 30',
    '',
    // A valid request the current state refuses is answered 422, like 409 a conflict with that state: the
    // subscription is not eligible, or the Idempotency-Key was used before with another body (the fuzzer reuses
    // short keys; 422 is what the IETF Idempotency-Key draft prescribes). The defaults, plus 422.
    '[checks.positive_data_acceptance]',
    'expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]',
    '',
    '[dictionaries.subscriptions]',
    `values = ${quoted(seeded.subscriptionIds)}`,
    '[dictionaries.refunds]',
    `values = ${quoted(seeded.refundIds)}`,
    '[dictionaries.users]',
    `values = ${quoted([PRINCIPALS.user])}`,
    '[dictionaries.creators]',
    `values = ${quoted([PRINCIPALS.creator])}`,
    '',
    '[parameters]',
    '"body.subscriptionId" = { dictionary = "subscriptions", probability = 0.7 }',
    '"path.subscriptionId" = { dictionary = "subscriptions", probability = 0.7 }',
    '"path.refundId" = { dictionary = "refunds", probability = 0.7 }',
    '"path.userId" = { dictionary = "users", probability = 0.7 }',
    '"path.creatorId" = { dictionary = "creators", probability = 0.7 }',
  ];
  if (scenario.documentedLinksOnly) lines.push('', '[phases.stateful.inference]', 'algorithms = []');
  for (const [operationId, token] of Object.entries(scenario.perOperation ?? {})) {
    lines.push('', '[[operations]]', `include-operation-id = ${JSON.stringify(operationId)}`, `headers = { Authorization = ${JSON.stringify(`Bearer ${token}`)} }`);
  }
  return `${lines.join('\n')}\n`;
}

function runSchemathesis(schemathesis: Schemathesis, configFile: string, baseUrl: string, scenario: Scenario, workDir: string, options: Options): Promise<number> {
  const args = [
    '-m',
    'schemathesis.cli',
    '--config-file',
    configFile,
    'run',
    `${baseUrl}/api/docs/openapi.json`,
    '--checks',
    'all',
    '--max-examples',
    String(options.maxExamples * (scenario.examplesFactor ?? 1)),
    '--workers',
    '1',
    '--generation-database',
    'none',
    '--report',
    'junit',
    '--report-dir',
    path.join(workDir, `report-${scenario.name}`),
    '--no-color',
  ];
  if (scenario.phases) args.push('--phases', scenario.phases);
  if (scenario.positiveOnly) args.push('--mode', 'positive');
  if (options.seed !== undefined) args.push('--seed', String(options.seed));
  return new Promise((resolve) => {
    const child = spawn(schemathesis.python, args, { stdio: 'inherit', cwd: workDir });
    child.on('error', (error) => {
      console.error(`[contract] could not run schemathesis: ${error.message}`);
      resolve(1);
    });
    child.on('exit', (code) => resolve(code ?? 1));
  });
}
