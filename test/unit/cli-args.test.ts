import { parseBenchArgs } from '../../src/cli/bench';
import { parseOptions as parseContractOptions, scenarios as contractScenarios, schemathesisConfig } from '../../src/cli/contract';
import { schemathesisVersion } from '../../src/dev/schemathesis';
import {
  defaultConnections,
  errorRate,
  evaluateTargets,
  formatDuration,
  LOAD_TARGETS,
  parseDuration,
  parseLoadArgs,
  percentile,
  splitIntoSlots,
  summarizeLatencies,
  type LoadSummary,
} from '../../src/cli/load';
import { describeFailure, formatCheckLine, missingMetrics, parseSmokeArgs, parseTimeout, resolveBaseUrl, UsageError, type HttpAnswer } from '../../src/cli/smoke';

describe('parseDuration', () => {
  test.each([
    ['30s', 30_000],
    ['10m', 600_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['2m30s', 150_000],
    ['1500ms', 1_500],
    ['90', 90_000],
    ['1.5m', 90_000],
    [' 10m ', 600_000],
  ])('%s -> %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  test.each(['', '10x', 'm10', '10 m', '-5s', '0s', '500ms', '1d', '10m5', 'abc'])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(UsageError);
  });

  test('round-trips through formatDuration', () => {
    for (const text of ['30s', '10m', '1h', '1h30m', '2m30s']) expect(formatDuration(parseDuration(text))).toBe(text);
    expect(formatDuration(45_500)).toBe('45.5s');
  });
});

describe('parseTimeout', () => {
  test('accepts ms, s, m and plain seconds', () => {
    expect(parseTimeout('500ms')).toBe(500);
    expect(parseTimeout('10s')).toBe(10_000);
    expect(parseTimeout('2')).toBe(2_000);
    expect(parseTimeout('1m')).toBe(60_000);
  });
  test('rejects zero and garbage', () => {
    expect(() => parseTimeout('0s')).toThrow(UsageError);
    expect(() => parseTimeout('soon')).toThrow(UsageError);
  });
});

describe('resolveBaseUrl', () => {
  test('--url wins and loses its trailing slash', () => {
    expect(resolveBaseUrl({ url: 'https://api.example.com/' }, {})).toBe('https://api.example.com');
    expect(resolveBaseUrl({ url: 'https://example.com/refunds-svc/' }, {})).toBe('https://example.com/refunds-svc');
  });

  test('defaults to the local API on PORT, else 5000', () => {
    expect(resolveBaseUrl({}, {})).toBe('http://127.0.0.1:5000');
    expect(resolveBaseUrl({}, { PORT: '5050' })).toBe('http://127.0.0.1:5050');
  });

  test('--env=staging reads SMOKE_URL_STAGING', () => {
    expect(resolveBaseUrl({ env: 'staging' }, { SMOKE_URL_STAGING: 'https://staging.example.com' })).toBe('https://staging.example.com');
    expect(resolveBaseUrl({ env: 'eu-prod' }, { SMOKE_URL_EU_PROD: 'https://eu.example.com' })).toBe('https://eu.example.com');
  });

  test('--env without its variable names the variable to set', () => {
    expect(() => resolveBaseUrl({ env: 'staging' }, {})).toThrow(/SMOKE_URL_STAGING/);
  });

  test('rejects both flags, non-http URLs and URLs with a query', () => {
    expect(() => resolveBaseUrl({ url: 'http://a', env: 'staging' }, { SMOKE_URL_STAGING: 'http://b' })).toThrow(/not both/);
    expect(() => resolveBaseUrl({ url: 'ftp://example.com' }, {})).toThrow(UsageError);
    expect(() => resolveBaseUrl({ url: 'example.com' }, {})).toThrow(UsageError);
    expect(() => resolveBaseUrl({ url: 'http://example.com/?x=1' }, {})).toThrow(UsageError);
  });
});

describe('parseSmokeArgs', () => {
  test('flags in both --flag value and --flag=value form', () => {
    expect(parseSmokeArgs(['--url', 'http://localhost:5000', '--token=abc', '--timeout', '3s'], {})).toEqual({ baseUrl: 'http://localhost:5000', token: 'abc', timeoutMs: 3000 });
    expect(parseSmokeArgs(['--env=staging'], { SMOKE_URL_STAGING: 'https://staging.example.com' })).toEqual({ baseUrl: 'https://staging.example.com', token: undefined, timeoutMs: 10_000 });
  });
  test('unknown flags and positionals are usage errors; --help is help', () => {
    expect(() => parseSmokeArgs(['--urll', 'x'], {})).toThrow(UsageError);
    expect(() => parseSmokeArgs(['http://localhost:5000'], {})).toThrow(UsageError);
    expect(parseSmokeArgs(['--help'], {})).toBe('help');
  });
});

describe('parseLoadArgs', () => {
  test('defaults are the deployment guide\'s: 10m at 100 req/s on the local API', () => {
    expect(parseLoadArgs([], {})).toEqual({ baseUrl: 'http://127.0.0.1:5000', durationMs: 600_000, rate: 100, connections: 25, token: undefined, timeoutMs: 10_000 });
  });

  test('the guide\'s command line', () => {
    const options = parseLoadArgs(['--url', 'http://10.0.0.5:5000', '--duration=30s', '--rate=40', '--connections', '8', '--token', 't'], {});
    expect(options).toEqual({ baseUrl: 'http://10.0.0.5:5000', durationMs: 30_000, rate: 40, connections: 8, token: 't', timeoutMs: 10_000 });
  });

  test('default connections: max(10, rate/4), never more than the rate', () => {
    expect(defaultConnections(100)).toBe(25);
    expect(defaultConnections(1000)).toBe(250);
    expect(defaultConnections(20)).toBe(10);
    expect(defaultConnections(3)).toBe(3);
  });

  test.each([
    [['--rate=0']],
    [['--rate=1.5']],
    [['--rate=fast']],
    [['--connections=0']],
    [['--rate=10', '--connections=11']],
    [['--duration=forever']],
    [['--durations=10m']],
  ])('rejects %j', (args) => {
    expect(() => parseLoadArgs(args, {})).toThrow(UsageError);
  });
});

describe('splitIntoSlots', () => {
  test('100/s over 25 connections: 10 instances, 100 ms apart, adding up to the rate and the connections', () => {
    const slots = splitIntoSlots(100, 25);
    expect(slots).toHaveLength(10);
    expect(slots.map((slot) => slot.startAfterMs)).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 800, 900]);
    expect(slots.reduce((sum, slot) => sum + slot.rate, 0)).toBe(100);
    expect(slots.reduce((sum, slot) => sum + slot.connections, 0)).toBe(25);
    expect(slots.every((slot) => slot.connections >= 1 && slot.connections <= slot.rate)).toBe(true);
  });

  test('never more slots than requests a second or connections', () => {
    expect(splitIntoSlots(3, 3)).toEqual([
      { rate: 1, connections: 1, startAfterMs: 0 },
      { rate: 1, connections: 1, startAfterMs: 333 },
      { rate: 1, connections: 1, startAfterMs: 667 },
    ]);
    expect(splitIntoSlots(1, 1)).toEqual([{ rate: 1, connections: 1, startAfterMs: 0 }]);
    expect(splitIntoSlots(107, 13).reduce((sum, slot) => sum + slot.rate, 0)).toBe(107);
  });
});

describe('parseBenchArgs', () => {
  test('all benches by default, a subset with --only', () => {
    expect(parseBenchArgs([])).toEqual(['proration', 'memory', 'api', 'volume', 'payout']);
    expect(parseBenchArgs(['--quick'])).toEqual(['proration', 'memory', 'volume']);
    expect(parseBenchArgs(['--only', 'memory, proration'])).toEqual(['memory', 'proration']);
  });
  test('unknown names are usage errors', () => {
    expect(() => parseBenchArgs(['--only=cpu'])).toThrow(/unknown bench cpu/);
    expect(() => parseBenchArgs(['--only='])).toThrow(UsageError);
  });
});

describe('percentiles', () => {
  const oneToHundred = Array.from({ length: 100 }, (_, i) => i + 1);

  test('nearest rank', () => {
    expect(percentile(oneToHundred, 50)).toBe(50);
    expect(percentile(oneToHundred, 99)).toBe(99);
    expect(percentile(oneToHundred, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 99)).toBe(0);
  });

  test('summarizeLatencies sorts numerically, not as strings', () => {
    expect(summarizeLatencies([100, 9, 20, 3, 1000])).toEqual({ p50: 20, p90: 1000, p99: 1000, max: 1000 });
    const shuffled = [...oneToHundred].reverse();
    expect(summarizeLatencies(shuffled)).toEqual({ p50: 50, p90: 90, p99: 99, max: 100 });
  });
});

describe('targets', () => {
  const healthy: LoadSummary = { responses: 60_000, non2xx: 0, errors: 0, timeouts: 0, durationSeconds: 600, requestedRate: 100, latency: { p50: 12, p90: 30, p99: 120, max: 800 } };

  test('error rate counts non-2xx answers and requests without an answer', () => {
    expect(errorRate({ responses: 999, non2xx: 1, errors: 1 })).toBeCloseTo(2 / 1000);
    expect(errorRate({ responses: 0, non2xx: 0, errors: 0 })).toBe(1);
  });

  test('a healthy run meets every target', () => {
    expect(evaluateTargets(healthy).map((target) => target.met)).toEqual([true, true, true]);
  });

  test('p99 must be strictly below 500 ms; max is not compared', () => {
    const [p99] = evaluateTargets({ ...healthy, latency: { ...healthy.latency, p99: LOAD_TARGETS.p99Ms } });
    expect(p99).toMatchObject({ name: 'p99 latency < 500 ms', met: false, actual: '500 ms' });
    expect(evaluateTargets({ ...healthy, latency: { ...healthy.latency, p99: 499.9, max: 5000 } })[0]!.met).toBe(true);
  });

  test('error rate must be below 0.1 %: 59 of 60 000 passes, 60 fails', () => {
    expect(evaluateTargets({ ...healthy, non2xx: 59 })[1]!.met).toBe(true);
    expect(evaluateTargets({ ...healthy, non2xx: 30, errors: 31 })[1]).toMatchObject({ met: false, actual: '0.102 %' });
  });

  test('a load generator that fell behind fails the run', () => {
    expect(evaluateTargets({ ...healthy, responses: 54_000 })[2]!.met).toBe(true); // 90/s of 100/s
    expect(evaluateTargets({ ...healthy, responses: 50_000 })[2]).toMatchObject({ met: false, actual: '83.3/s' });
  });

  test('no responses at all never passes', () => {
    const none = evaluateTargets({ ...healthy, responses: 0, errors: 10, latency: { p50: 0, p90: 0, p99: 0, max: 0 } });
    expect(none.every((target) => !target.met)).toBe(true);
  });
});

describe('smoke helpers', () => {
  const exposition = [
    '# HELP proratarefund_refunds_total Refunds requested',
    '# TYPE proratarefund_refunds_total counter',
    'proratarefund_refunds_total 3',
    'proratarefund_refunds_status{status="pending_approval"} 2',
    'proratarefund_scheduler_runs_total{outcome="ok"} 1',
    'proratarefund_scheduler_duration_seconds_bucket{le="0.1"} 1',
  ].join('\n');

  test('missingMetrics finds samples, histogram series and TYPE lines', () => {
    expect(missingMetrics(exposition)).toEqual([]);
    expect(missingMetrics('# TYPE proratarefund_scheduler_duration_seconds histogram\n', ['proratarefund_scheduler_duration_seconds'])).toEqual([]);
  });

  test('missingMetrics is not fooled by a longer name or a mention in help text', () => {
    const lookalikes = 'proratarefund_refunds_total_extra 1\n# HELP other mentions proratarefund_refunds_status here\n';
    expect(missingMetrics(lookalikes, ['proratarefund_refunds_total', 'proratarefund_refunds_status'])).toEqual(['proratarefund_refunds_total', 'proratarefund_refunds_status']);
  });

  test('describeFailure uses the API error shape when there is one', () => {
    const answer = (status: number, json: unknown, text = ''): HttpAnswer => ({ status, json, text, ms: 1, contentType: 'application/json' });
    expect(describeFailure(answer(401, { error: { code: 'INVALID_TOKEN', message: 'the token is invalid' } }))).toBe('401 INVALID_TOKEN: the token is invalid');
    expect(describeFailure(answer(502, undefined, '<html>Bad gateway</html>'))).toBe('502 <html>Bad gateway</html>');
  });

  test('one line per check with a mark and the time', () => {
    expect(formatCheckLine({ name: 'GET /metrics', outcome: 'pass', ms: 12.4, detail: '200' })).toMatch(/^✓ GET \/metrics\s+12 ms {2}200$/);
    expect(formatCheckLine({ name: 'x', outcome: 'fail', ms: 1, detail: 'ECONNREFUSED' })).toMatch(/^✗ /);
    expect(formatCheckLine({ name: 'x', outcome: 'skip', ms: 0, detail: 'no refund to read' })).toMatch(/^– /);
  });
});

describe('npm run test:contract', () => {
  test('options: a few examples per operation by default, every run unless --only narrows them', () => {
    expect(parseContractOptions([])).toEqual({ maxExamples: 15, seed: undefined, only: new Set(['user', 'creator', 'admin', 'lifecycle']), keep: false });
    expect(parseContractOptions(['--max-examples', '3', '--seed', '42', '--only', 'admin,lifecycle', '--keep'])).toEqual({
      maxExamples: 3,
      seed: 42,
      only: new Set(['admin', 'lifecycle']),
      keep: true,
    });
    expect(() => parseContractOptions(['--max-examples', '0'])).toThrow(/max-examples/);
    expect(() => parseContractOptions(['--only', 'guest'])).toThrow(/guest/);
    expect(() => parseContractOptions(['--fast'])).toThrow();
  });

  test('schemathesis is pinned, and each run is configured for who it acts as', () => {
    expect(schemathesisVersion()).toBe('4.32.5');
    const tokens = { user: 'user-token', creator: 'creator-token', admin: 'admin-token' };
    const byName = Object.fromEntries(contractScenarios(tokens).map((scenario) => [scenario.name, scenario]));
    expect(Object.keys(byName)).toEqual(['user', 'creator', 'admin', 'lifecycle']);
    const seeded = { subscriptionIds: ['65f1c0ffee0123456789abcd'], refundIds: ['rf_0123456789abcdef01234567'] };

    const admin = schemathesisConfig(byName.admin!, seeded);
    expect(admin).toMatch(/^headers = \{ Authorization = "Bearer admin-token" \}$/m);
    expect(admin).toContain('values = ["65f1c0ffee0123456789abcd"]');
    expect(admin).toMatch(/^"body\.subscriptionId" = \{ dictionary = "subscriptions"/m);
    expect(admin).not.toContain('[[operations]]');

    // The chain create -> get -> approve: the user creates (and cancels), the admin reads and decides, along the document's links only.
    const lifecycle = schemathesisConfig(byName.lifecycle!, seeded);
    expect(lifecycle).toMatch(/^headers = \{ Authorization = "Bearer admin-token" \}$/m);
    expect(lifecycle).toContain('[[operations]]\ninclude-operation-id = "requestRefund"\nheaders = { Authorization = "Bearer user-token" }');
    expect(lifecycle).toContain('[[operations]]\ninclude-operation-id = "cancelRefund"\nheaders = { Authorization = "Bearer user-token" }');
    expect(lifecycle).toContain('[phases.stateful.inference]\nalgorithms = []');
    expect(byName.lifecycle).toMatchObject({ phases: 'stateful', positiveOnly: true });
  });
});
