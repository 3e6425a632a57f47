import { parseArgs } from 'node:util';
import { mintToken } from '../api/auth';
import { loadConfigOrExit, loadDotEnv } from '../config';

/**
 * `npm run test:smoke -- --url <base> [--token <admin JWT>]`: the deployment
 * guide's smoke test (step 7) against a running deployment. One line per
 * check, exit 0 only when none failed. Also home of what the load test
 * shares with it: where the deployment is, and the admin token to call it with.
 */

const USAGE = [
  'usage: npm run test:smoke -- [--url <base> | --env=<name>] [--token <admin JWT>] [--timeout 10s]',
  '  --url      base URL of the deployment (default http://127.0.0.1:$PORT, PORT defaulting to 5000)',
  '  --env      take the URL from SMOKE_URL_<NAME> (environment or .env), e.g. --env=staging -> SMOKE_URL_STAGING',
  '  --token    admin bearer token; without it one is minted from AUTH_JWT_SECRET (environment or .env)',
  '  --timeout  per request (default 10s)',
].join('\n');

/** Bad command line: the CLI prints the message and the usage and exits 64 (EX_USAGE). */
export class UsageError extends Error {
  override name = 'UsageError';
}

export const EXIT_USAGE = 64;

/** The metrics the deployment guide tells operators to expect (step 9). */
export const REQUIRED_METRICS = [
  'proratarefund_refunds_total',
  'proratarefund_refunds_status',
  'proratarefund_scheduler_runs_total',
  'proratarefund_scheduler_duration_seconds',
] as const;

export const REFUNDS_PATH = '/api/refunds/pro-rata';

// ---- where the deployment is, and who we are --------------------------------------------------

/** `--url` as given, else `--env=<name>` looked up in SMOKE_URL_<NAME>, else the local API. No trailing slash. */
export function resolveBaseUrl(options: { url?: string; env?: string }, environment: NodeJS.ProcessEnv): string {
  if (options.url && options.env) throw new UsageError('give --url or --env, not both');
  let url = options.url;
  if (options.env) {
    const variable = `SMOKE_URL_${options.env.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
    url = environment[variable];
    if (!url) {
      throw new UsageError(
        `--env=${options.env}: no URL for this environment. Set ${variable} to its base URL (e.g. ${variable}=https://${options.env}.example.com) in the environment or .env, or pass --url`,
      );
    }
  }
  url ??= `http://127.0.0.1:${environment.PORT || 5000}`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`not a URL: "${url}"`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError(`the URL must be http:// or https://, got "${url}"`);
  if (parsed.search || parsed.hash) throw new UsageError(`give the base URL only, without ?query or #fragment: "${url}"`);
  return parsed.toString().replace(/\/+$/, '');
}

export interface AdminToken {
  token: string;
  /** Where it came from, for the header line (never the token itself). */
  source: string;
}

/** The token given, or an admin token minted from AUTH_JWT_SECRET (which only a deployment sharing that secret accepts). */
export async function adminToken(given: string | undefined, sub: string, ttlSeconds: number): Promise<AdminToken> {
  if (given) return { token: given, source: 'token from --token' };
  const config = loadConfigOrExit();
  return { token: await mintToken(config.auth.jwtSecret, { sub, role: 'admin' }, ttlSeconds), source: `admin token minted from AUTH_JWT_SECRET (sub ${sub})` };
}

// ---- HTTP -----------------------------------------------------------------------------------------

export interface HttpAnswer {
  status: number;
  ms: number;
  contentType: string;
  text: string;
  /** Parsed body when the answer is JSON, else undefined. */
  json: unknown;
}

/** GET with a deadline. Network failures reject with a one-line reason (ECONNREFUSED, no answer within …). */
export async function httpGet(baseUrl: string, path: string, options: { token?: string; timeoutMs: number }): Promise<HttpAnswer> {
  const started = performance.now();
  const headers: Record<string, string> = { accept: 'application/json, text/plain;q=0.9' };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let response: Response;
  let text: string;
  try {
    response = await fetch(`${baseUrl}${path}`, { headers, signal: AbortSignal.timeout(options.timeoutMs) });
    text = await response.text();
  } catch (error) {
    throw new Error(networkFailure(error, options.timeoutMs));
  }
  const contentType = response.headers.get('content-type') ?? '';
  let json: unknown;
  if (contentType.includes('json')) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  return { status: response.status, ms: performance.now() - started, contentType, text, json };
}

function networkFailure(error: unknown, timeoutMs: number): string {
  const err = error as Error & { cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  return err.cause?.code ?? err.cause?.message ?? err.message;
}

/** "401 INVALID_TOKEN: the token is invalid" from the API's one error shape, else the status alone. */
export function describeFailure(answer: HttpAnswer): string {
  const error = (answer.json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (error && typeof error.code === 'string') return `${answer.status} ${error.code}${typeof error.message === 'string' ? `: ${error.message}` : ''}`;
  return `${answer.status}${answer.text ? ` ${answer.text.slice(0, 120).replace(/\s+/g, ' ')}` : ''}`;
}

// ---- checks -----------------------------------------------------------------------------------------

export type Outcome = 'pass' | 'fail' | 'skip';

export interface CheckResult {
  name: string;
  outcome: Outcome;
  ms: number;
  detail: string;
}

const SYMBOLS: Record<Outcome, string> = { pass: '✓', fail: '✗', skip: '–' };

export function formatCheckLine(result: CheckResult): string {
  return `${SYMBOLS[result.outcome]} ${result.name.padEnd(52)} ${result.ms.toFixed(0).padStart(6)} ms  ${result.detail}`;
}

/** The metric names of REQUIRED_METRICS that the Prometheus text does not expose (as a sample or a # TYPE/# HELP line). */
export function missingMetrics(exposition: string, names: readonly string[] = REQUIRED_METRICS): string[] {
  return names.filter((name) => !new RegExp(`^(?:# (?:HELP|TYPE) )?${name}(?:_bucket|_sum|_count)?(?:[\\s{]|$)`, 'm').test(exposition));
}

type CheckBody = () => Promise<{ outcome: Outcome; detail: string }>;

const pass = (detail: string) => ({ outcome: 'pass' as const, detail });
const fail = (detail: string) => ({ outcome: 'fail' as const, detail });
const skip = (detail: string) => ({ outcome: 'skip' as const, detail });

async function runCheck(name: string, body: CheckBody): Promise<CheckResult> {
  const started = performance.now();
  let result: { outcome: Outcome; detail: string };
  try {
    result = await body();
  } catch (error) {
    result = fail((error as Error).message);
  }
  return { name, ...result, ms: performance.now() - started };
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

interface SmokeTarget {
  baseUrl: string;
  token: string;
  timeoutMs: number;
}

/** The checks in order; the refund read uses the refund the pending list returned. Exported for tests of a fake server. */
export async function runSmokeChecks(target: SmokeTarget, report: (result: CheckResult) => void = () => undefined): Promise<CheckResult[]> {
  // public routes are called without a token, as a load balancer or Prometheus would
  const get = (path: string, auth: 'admin' | 'anonymous' = 'admin') =>
    httpGet(target.baseUrl, path, { token: auth === 'admin' ? target.token : undefined, timeoutMs: target.timeoutMs });
  const results: CheckResult[] = [];
  const check = async (name: string, body: CheckBody) => {
    const result = await runCheck(name, body);
    results.push(result);
    report(result);
    return result;
  };

  await check('GET /api/status', async () => {
    const answer = await get('/api/status', 'anonymous');
    const body = answer.json;
    if (!isObject(body)) return fail(`${describeFailure(answer)} (expected a JSON health document)`);
    const module = body.proRataRefunds;
    if (!isObject(module)) return fail(`${answer.status}, but the body has no proRataRefunds object`);
    const temporal = module.temporalReachable ?? (isObject(body.temporal) ? body.temporal.reachable : undefined);
    const mongo = module.mongoReachable ?? (isObject(body.mongo) ? body.mongo.reachable : undefined);
    const detail = `${answer.status}, temporal ${reachability(temporal)}, mongo ${reachability(mongo)}`;
    return answer.status === 200 && temporal === true && mongo === true ? pass(detail) : fail(detail);
  });

  await check(`GET ${REFUNDS_PATH}/statistics without a token`, async () => {
    const answer = await get(`${REFUNDS_PATH}/statistics`, 'anonymous');
    return answer.status === 401 ? pass('401: admin routes need a token') : fail(`${describeFailure(answer)} (expected 401: is authentication enforced?)`);
  });

  await check(`GET ${REFUNDS_PATH}/statistics`, async () => {
    const answer = await get(`${REFUNDS_PATH}/statistics`);
    if (answer.status !== 200) return fail(describeFailure(answer));
    const body = answer.json;
    if (!isObject(body) || !isObject(body.byStatus) || !Array.isArray(body.totals)) return fail('200, but byStatus or totals is missing');
    const counts = Object.values(body.byStatus).filter((count): count is number => typeof count === 'number');
    return pass(`200, ${counts.reduce((sum, count) => sum + count, 0)} refunds in ${Object.keys(body.byStatus).length} statuses, ${body.totals.length} token totals`);
  });

  await check('GET /metrics', async () => {
    const answer = await get('/metrics', 'anonymous');
    if (answer.status !== 200) return fail(describeFailure(answer));
    const missing = missingMetrics(answer.text);
    return missing.length === 0 ? pass(`200, all ${REQUIRED_METRICS.length} refund metrics present`) : fail(`200, missing ${missing.join(', ')}`);
  });

  let refundId: string | undefined;
  const pending = await check(`GET ${REFUNDS_PATH}/pending/all`, async () => {
    const answer = await get(`${REFUNDS_PATH}/pending/all?limit=1`);
    if (answer.status !== 200) return fail(describeFailure(answer));
    const body = answer.json;
    if (!isObject(body) || !Array.isArray(body.items)) return fail('200, but the body has no items list');
    const first: unknown = body.items[0];
    refundId = isObject(first) && typeof first.refundId === 'string' ? first.refundId : undefined;
    return pass(refundId ? `200, oldest pending refund ${refundId}` : '200, no refund pending');
  });

  await check(`GET ${REFUNDS_PATH}/:refundId`, async () => {
    if (pending.outcome !== 'pass') return skip('no refund to read (the pending list failed)');
    if (!refundId) return skip('no refund to read (nothing pending)');
    const answer = await get(`${REFUNDS_PATH}/${encodeURIComponent(refundId)}`);
    if (answer.status !== 200) return fail(`${refundId}: ${describeFailure(answer)}`);
    const body = answer.json;
    if (!isObject(body) || body.refundId !== refundId) return fail(`${refundId}: 200, but the body is not that refund`);
    return pass(`200, ${refundId} is ${String(body.refundStatus)}, amount ${String(body.amountFormatted ?? body.amount)} ${currencySymbol(body.currency)}`.trimEnd());
  });

  await check('GET /api/docs/openapi.json', async () => {
    const answer = await get('/api/docs/openapi.json', 'anonymous');
    if (answer.status !== 200) return fail(describeFailure(answer));
    const body = answer.json;
    if (!isObject(body) || typeof body.openapi !== 'string' || !isObject(body.paths)) return fail('200, but not an OpenAPI document');
    return pass(`200, OpenAPI ${body.openapi}, ${Object.keys(body.paths).length} paths`);
  });

  return results;
}

function reachability(value: unknown): string {
  if (value === true) return 'reachable';
  if (value === false) return 'UNREACHABLE';
  return 'not reported';
}

function currencySymbol(currency: unknown): string {
  return isObject(currency) && typeof currency.symbol === 'string' ? currency.symbol : '';
}

// ---- command line -------------------------------------------------------------------------------

export interface SmokeOptions {
  baseUrl: string;
  token?: string;
  timeoutMs: number;
}

export function parseSmokeArgs(args: string[], environment: NodeJS.ProcessEnv): SmokeOptions | 'help' {
  const { values } = parseCommandLine(args, {
    url: { type: 'string' },
    env: { type: 'string' },
    token: { type: 'string' },
    timeout: { type: 'string', default: '10s' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return 'help';
  const timeoutMs = parseTimeout(values.timeout as string);
  return { baseUrl: resolveBaseUrl({ url: values.url as string | undefined, env: values.env as string | undefined }, environment), token: values.token as string | undefined, timeoutMs };
}

/** node:util parseArgs, strict, with its errors turned into UsageError. */
export function parseCommandLine<O extends NonNullable<Parameters<typeof parseArgs>[0]>['options']>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** "10s", "500ms", "2m" or plain seconds, for per-request deadlines. */
export function parseTimeout(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  const ms = match ? Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm'] : NaN;
  if (!(ms > 0)) throw new UsageError(`--timeout: "${text}" is not a positive duration like 10s or 500ms`);
  return ms;
}

/** Runs `parse` and, on a UsageError, prints it with the usage; returns the parsed value or the exit code. */
export function parseOrUsage<T>(parse: () => T, usage: string): T | number {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n${usage}`);
    return EXIT_USAGE;
  }
}

export async function run(args: string[]): Promise<number> {
  loadDotEnv(); // SMOKE_URL_<ENV> and PORT may live in .env
  const options = parseOrUsage(() => parseSmokeArgs(args, process.env), USAGE);
  if (typeof options === 'number') return options;
  if (options === 'help') {
    console.log(USAGE);
    return 0;
  }
  const { token, source } = await adminToken(options.token, 'smoke-test', 600);
  console.log(`Smoke test of ${options.baseUrl}, ${source}`);
  const started = performance.now();
  const results = await runSmokeChecks({ baseUrl: options.baseUrl, token, timeoutMs: options.timeoutMs }, (result) => console.log(formatCheckLine(result)));
  const count = (outcome: Outcome) => results.filter((result) => result.outcome === outcome).length;
  const failed = count('fail');
  const minted = !options.token;
  if (minted && results.some((result) => result.outcome === 'fail' && /\b401\b/.test(result.detail) && !result.name.includes('without a token'))) {
    console.log('  hint: the token was minted from this machine\'s AUTH_JWT_SECRET; for another deployment pass --token');
  }
  console.log(`${failed === 0 ? 'PASS' : 'FAIL'}: ${count('pass')} passed, ${failed} failed, ${count('skip')} skipped in ${(performance.now() - started).toFixed(0)} ms`);
  return failed === 0 ? 0 : 1;
}
