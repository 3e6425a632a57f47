import type autocannon from 'autocannon';
import { loadDotEnv } from '../config';
import { adminToken, describeFailure, httpGet, parseCommandLine, parseOrUsage, parseTimeout, REFUNDS_PATH, resolveBaseUrl, UsageError } from './smoke';

/**
 * `npm run test:load -- --url <base> --duration=10m --rate=100`: the deployment
 * guide's load test (step 7) with its monitoring targets (step 9) as pass/fail:
 * read endpoints at a fixed overall rate (autocannon's `overallRate`), then
 * latency percentiles, error rate, and whether each target was met.
 */

const USAGE = [
  'usage: npm run test:load -- [--url <base> | --env=<name>] [--duration=10m] [--rate=100] [--connections N] [--token <admin JWT>] [--timeout 10s]',
  '  --url          base URL (default http://127.0.0.1:$PORT, PORT defaulting to 5000); --env=<name> reads SMOKE_URL_<NAME>',
  '  --duration     how long to send: 30s, 10m, 1h, 1h30m (default 10m, the guide\'s)',
  '  --rate         requests per second over all connections (default 100, the guide\'s)',
  '  --connections  concurrent connections (default max(10, rate/4)); each sends its share of the rate one request at a time',
  '  --token        admin bearer token; without it one is minted from AUTH_JWT_SECRET',
  '  --timeout      per request; a request past it counts as an error (default 10s)',
].join('\n');

/**
 * The deployment guide's targets: "API response times (target: <500ms)", read
 * as the 99th percentile of every response; "Error rate (target: <0.1%)". The
 * sustained rate guards the other two: a load generator that fell behind
 * measured a lighter load than asked for.
 */
export const LOAD_TARGETS = { p99Ms: 500, maxErrorRate: 0.001, minRateShare: 0.9 } as const;
export type LoadTargets = { p99Ms: number; maxErrorRate: number; minRateShare: number };

// ---- arguments ------------------------------------------------------------------------------------

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** "30s", "10m", "1h", "1h30m", "500ms", or plain seconds ("90") -> milliseconds. */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return positive(Number(trimmed) * 1000, text);
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join('') !== trimmed) {
    throw new UsageError(`--duration: "${text}" is not a duration like 30s, 10m, 1h or 1h30m`);
  }
  return positive(
    parts.reduce((ms, part) => ms + Number(part[1]) * UNIT_MS[part[2] as keyof typeof UNIT_MS], 0),
    text,
  );
}

function positive(ms: number, text: string): number {
  if (!(ms >= 1000)) throw new UsageError(`--duration: "${text}" is shorter than one second`);
  return Math.round(ms);
}

/** 600000 -> "10m", 5400000 -> "1h30m", 45500 -> "45.5s". */
export function formatDuration(ms: number): string {
  const hours = Math.floor(ms / UNIT_MS.h);
  const minutes = Math.floor((ms % UNIT_MS.h) / UNIT_MS.m);
  const seconds = (ms % UNIT_MS.m) / 1000;
  const text = `${hours ? `${hours}h` : ''}${minutes ? `${minutes}m` : ''}${seconds ? `${Number(seconds.toFixed(1))}s` : ''}`;
  return text || '0s';
}

function positiveInteger(text: string, flag: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < 1) throw new UsageError(`--${flag}: "${text}" is not a positive whole number`);
  return value;
}

/** Enough connections that the rate is reachable while the mean response stays under half the p99 target. */
export function defaultConnections(rate: number): number {
  return Math.min(rate, Math.max(10, Math.ceil(rate / 4)));
}

export interface Slot {
  rate: number;
  connections: number;
  startAfterMs: number;
}

/**
 * autocannon paces each connection per one-second window, and all its
 * connections start together: every second's requests would leave in one
 * burst. Splitting the rate over instances started evenly across a second
 * spreads them out. Each slot keeps at least one connection and one request a second.
 */
export function splitIntoSlots(rate: number, connections: number, maxSlots = 10): Slot[] {
  const count = Math.max(1, Math.min(maxSlots, rate, connections));
  const share = (total: number, i: number) => Math.floor(total / count) + (i < total % count ? 1 : 0);
  return Array.from({ length: count }, (_, i) => ({ rate: share(rate, i), connections: share(connections, i), startAfterMs: Math.round((i * 1000) / count) }));
}

export interface LoadOptions {
  baseUrl: string;
  durationMs: number;
  rate: number;
  connections: number;
  token?: string;
  timeoutMs: number;
}

export function parseLoadArgs(args: string[], environment: NodeJS.ProcessEnv): LoadOptions | 'help' {
  const { values } = parseCommandLine(args, {
    url: { type: 'string' },
    env: { type: 'string' },
    duration: { type: 'string', default: '10m' },
    rate: { type: 'string', default: '100' },
    connections: { type: 'string' },
    token: { type: 'string' },
    timeout: { type: 'string', default: '10s' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return 'help';
  const rate = positiveInteger(values.rate as string, 'rate');
  const connections = values.connections === undefined ? defaultConnections(rate) : positiveInteger(values.connections as string, 'connections');
  if (connections > rate) throw new UsageError(`--connections (${connections}) cannot exceed --rate (${rate}): every connection sends at least one request a second`);
  return {
    baseUrl: resolveBaseUrl({ url: values.url as string | undefined, env: values.env as string | undefined }, environment),
    durationMs: parseDuration(values.duration as string),
    rate,
    connections,
    token: values.token as string | undefined,
    timeoutMs: parseTimeout(values.timeout as string),
  };
}

// ---- measuring ------------------------------------------------------------------------------------

/** Nearest-rank percentile (0 < p ≤ 100) of ascending values; 0 when there are none. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function summarizeLatencies(values: readonly number[] | Float64Array): LatencySummary {
  const sorted = Float64Array.from(values).sort();
  return { p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted.length ? sorted[sorted.length - 1]! : 0 };
}

export interface LoadSummary {
  /** Completed HTTP responses, whatever their status. */
  responses: number;
  non2xx: number;
  /** Connection errors and timeouts: requests that got no response. */
  errors: number;
  timeouts: number;
  durationSeconds: number;
  requestedRate: number;
  latency: LatencySummary;
}

/** (non-2xx responses + requests without a response) / every request that was answered or failed. */
export function errorRate(summary: Pick<LoadSummary, 'responses' | 'non2xx' | 'errors'>): number {
  const attempts = summary.responses + summary.errors;
  return attempts === 0 ? 1 : (summary.non2xx + summary.errors) / attempts;
}

export function achievedRate(summary: Pick<LoadSummary, 'responses' | 'durationSeconds'>): number {
  return summary.durationSeconds > 0 ? summary.responses / summary.durationSeconds : 0;
}

export interface TargetResult {
  name: string;
  met: boolean;
  actual: string;
}

export function evaluateTargets(summary: LoadSummary, targets: LoadTargets = LOAD_TARGETS): TargetResult[] {
  const rate = errorRate(summary);
  const achieved = achievedRate(summary);
  const noResponses = summary.responses === 0;
  return [
    { name: `p99 latency < ${targets.p99Ms} ms`, met: !noResponses && summary.latency.p99 < targets.p99Ms, actual: noResponses ? 'no responses' : `${formatMs(summary.latency.p99)} ms` },
    { name: `error rate < ${formatPercent(targets.maxErrorRate)}`, met: !noResponses && rate < targets.maxErrorRate, actual: formatPercent(rate, 3) },
    {
      name: `sustained rate ≥ ${targets.minRateShare * 100} % of ${summary.requestedRate}/s`,
      met: achieved >= targets.minRateShare * summary.requestedRate,
      actual: `${achieved.toFixed(1)}/s`,
    },
  ];
}

export function formatPercent(ratio: number, digits = 1): string {
  return `${(ratio * 100).toFixed(digits)} %`;
}

export function formatMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms.toFixed(1);
}

// ---- the run ----------------------------------------------------------------------------------------

interface Endpoint {
  name: string;
  path: string;
}

interface EndpointStats {
  responses: number;
  non2xx: number;
  statuses: Map<number, number>;
  latencies: number[];
}

/** One GET of each endpoint before the run: a wrong token or a degraded deployment is reported as such, not as a 100 % error rate. */
async function preflight(options: LoadOptions, token: string): Promise<{ endpoints: Endpoint[] } | { problem: string }> {
  const endpoints: Endpoint[] = [
    { name: 'status', path: '/api/status' },
    { name: 'statistics', path: `${REFUNDS_PATH}/statistics` },
    { name: 'pending list', path: `${REFUNDS_PATH}/pending/all?limit=20` },
  ];
  let refundId: string | undefined;
  for (const endpoint of endpoints) {
    let answer;
    try {
      answer = await httpGet(options.baseUrl, endpoint.path, { token, timeoutMs: options.timeoutMs });
    } catch (error) {
      return { problem: `GET ${endpoint.path}: ${(error as Error).message}` };
    }
    if (answer.status !== 200) return { problem: `GET ${endpoint.path} answered ${describeFailure(answer)}` };
    if (endpoint.name === 'pending list') {
      const first = (answer.json as { items?: { refundId?: unknown }[] } | undefined)?.items?.[0];
      if (typeof first?.refundId === 'string') refundId = first.refundId;
    }
  }
  if (refundId) endpoints.push({ name: 'refund read', path: `${REFUNDS_PATH}/${encodeURIComponent(refundId)}` });
  return { endpoints };
}

async function loadAutocannon(): Promise<typeof autocannon | undefined> {
  try {
    return (await import('autocannon')).default;
  } catch {
    return undefined;
  }
}

export async function run(args: string[]): Promise<number> {
  loadDotEnv();
  const options = parseOrUsage(() => parseLoadArgs(args, process.env), USAGE);
  if (typeof options === 'number') return options;
  if (options === 'help') {
    console.log(USAGE);
    return 0;
  }
  const fire = await loadAutocannon();
  if (!fire) {
    console.error('autocannon is not installed (it is a dev dependency): run the load test from a checkout after npm install');
    return 1;
  }
  const { token, source } = await adminToken(options.token, 'load-test', Math.ceil(options.durationMs / 1000) + 600);

  const checked = await preflight(options, token);
  if ('problem' in checked) {
    console.error(`[load] preflight failed, nothing was sent: ${checked.problem}`);
    if (!options.token && /\b401\b/.test(checked.problem)) console.error('[load] the token was minted from this machine\'s AUTH_JWT_SECRET; for another deployment pass --token');
    return 1;
  }
  const { endpoints } = checked;
  console.log(`Load test of ${options.baseUrl}, ${source}`);
  console.log(`  ${formatDuration(options.durationMs)} at ${options.rate} req/s overall over ${options.connections} connections, timeout ${options.timeoutMs} ms`);
  const slots = splitIntoSlots(options.rate, options.connections);
  console.log(`  autocannon overallRate, split into ${slots.length} instances started ${Math.round(1000 / slots.length)} ms apart, so each second's requests are spread over it instead of sent in one burst`);
  console.log(`  mix, round-robin on each connection: ${endpoints.map((endpoint) => endpoint.name).join(', ')}`);

  const stats = new Map<string, EndpointStats>(endpoints.map((endpoint) => [endpoint.name, { responses: 0, non2xx: 0, statuses: new Map(), latencies: [] }]));
  const unattributed: number[] = [];
  const allLatencies: number[] = [];
  // autocannon calls a request's onResponse and then, synchronously, emits 'response' with the latency:
  // the first names the endpoint, the second times it.
  let answered: EndpointStats | undefined;
  const basePath = new URL(options.baseUrl).pathname.replace(/\/+$/, '');

  const requests = endpoints.map((endpoint) => ({
    method: 'GET' as const,
    path: `${basePath}${endpoint.path}`,
    onResponse: (status: number) => {
      const endpointStats = stats.get(endpoint.name)!;
      endpointStats.responses += 1;
      if (status < 200 || status >= 300) endpointStats.non2xx += 1;
      endpointStats.statuses.set(status, (endpointStats.statuses.get(status) ?? 0) + 1);
      answered = endpointStats;
    },
  }));
  const instances: autocannon.Instance[] = [];
  let interrupted = false;
  const stop = () => {
    interrupted = true;
    console.log('  interrupted: stopping, reporting what was measured');
    for (const instance of instances) instance.stop();
  };
  process.once('SIGINT', stop);
  const started = Date.now();
  const progressEveryMs = (options.durationMs >= 5 * 60_000 ? 30 : 10) * 1000;
  const progress = setInterval(() => {
    const elapsedMs = Date.now() - started;
    if (elapsedMs >= options.durationMs) return;
    const responses = [...stats.values()].reduce((sum, s) => sum + s.responses, 0);
    const non2xx = [...stats.values()].reduce((sum, s) => sum + s.non2xx, 0);
    console.log(`  [${formatDuration(Math.round(elapsedMs / 1000) * 1000)} / ${formatDuration(options.durationMs)}] ${responses} responses (${((responses / elapsedMs) * 1000).toFixed(1)}/s), ${non2xx} non-2xx`);
  }, progressEveryMs);

  let results: autocannon.Result[];
  try {
    results = await Promise.all(
      slots.map(async (slot) => {
        await new Promise((resolve) => setTimeout(resolve, slot.startAfterMs));
        if (interrupted) return undefined;
        return new Promise<autocannon.Result>((resolve, reject) => {
          const instance = fire(
            {
              url: options.baseUrl,
              connections: slot.connections,
              overallRate: slot.rate,
              duration: options.durationMs / 1000,
              timeout: options.timeoutMs / 1000,
              headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
              // raw per-request latencies (percentiles computed below); the sustained-rate target covers omitted requests
              ignoreCoordinatedOmission: true,
              requests,
            },
            (error, finished) => (error ? reject(error) : resolve(finished)),
          );
          instances.push(instance);
          instance.on('response', (_client, _status, _bytes, responseTime) => {
            allLatencies.push(responseTime);
            (answered?.latencies ?? unattributed).push(responseTime);
            answered = undefined;
          });
        });
      }),
    ).then((all) => all.filter((result): result is autocannon.Result => result !== undefined));
  } finally {
    clearInterval(progress);
    process.removeListener('SIGINT', stop);
  }

  const sum = (pick: (result: autocannon.Result) => number) => results.reduce((total, result) => total + pick(result), 0);
  const summary: LoadSummary = {
    responses: sum((result) => result['1xx'] + result['2xx'] + result['3xx'] + result['4xx'] + result['5xx']),
    non2xx: sum((result) => result.non2xx),
    errors: sum((result) => result.errors),
    timeouts: sum((result) => result.timeouts),
    durationSeconds: results.length ? sum((result) => result.duration) / results.length : 0,
    requestedRate: options.rate,
    latency: summarizeLatencies(allLatencies),
  };
  printReport(summary, stats, unattributed.length);
  const targets = evaluateTargets(summary);
  console.log('Targets (deployment guide, step 9: API response < 500 ms read as p99 of all responses; error rate < 0.1 %)');
  for (const target of targets) console.log(`  ${target.met ? '✓' : '✗'} ${target.name.padEnd(34)} ${target.actual}`);
  const missed = targets.filter((target) => !target.met);
  if (interrupted) {
    console.log(`INTERRUPTED after ${summary.durationSeconds.toFixed(1)} s of ${formatDuration(options.durationMs)}: the figures cover only that part`);
    return 130;
  }
  console.log(missed.length === 0 ? 'PASS: every target met' : `FAIL: ${missed.map((target) => target.name).join('; ')}`);
  return missed.length === 0 ? 0 : 1;
}

function printReport(summary: LoadSummary, stats: Map<string, EndpointStats>, unattributed: number): void {
  const { latency } = summary;
  console.log(`Results over ${summary.durationSeconds.toFixed(1)} s`);
  console.log(`  requests     ${summary.responses + summary.errors} (${summary.responses} answered, ${achievedRate(summary).toFixed(1)}/s; asked for ${summary.requestedRate}/s)`);
  console.log(`  non-2xx      ${summary.non2xx}`);
  console.log(`  errors       ${summary.errors} without a response (${summary.timeouts} of them timeouts)`);
  console.log(`  error rate   ${formatPercent(errorRate(summary), 3)}  = (non-2xx + errors) / (answered + errors)`);
  console.log(`  latency      p50 ${formatMs(latency.p50)} ms   p90 ${formatMs(latency.p90)} ms   p99 ${formatMs(latency.p99)} ms   max ${formatMs(latency.max)} ms  (every response, 2xx or not)`);
  console.log(`  per endpoint ${'responses'.padStart(10)} ${'non-2xx'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)}  statuses`);
  for (const [name, endpoint] of stats) {
    const summaryOf = summarizeLatencies(endpoint.latencies);
    const statuses = [...endpoint.statuses].sort(([a], [b]) => a - b).map(([status, count]) => `${status}×${count}`).join(' ');
    console.log(
      `    ${name.padEnd(12)} ${String(endpoint.responses).padStart(8)} ${String(endpoint.non2xx).padStart(8)} ${formatMs(summaryOf.p50).padStart(8)} ${formatMs(summaryOf.p99).padStart(8)} ${formatMs(summaryOf.max).padStart(8)}  ${statuses}`,
    );
  }
  if (unattributed > 0) console.log(`    (${unattributed} latencies could not be attributed to an endpoint)`);
}

