import {
  signWebhookPayload,
  startHttpReceiver,
  verifyWebhookSignature,
  WEBHOOK_SIGNATURE_HEADER,
  type HttpReceiver,
} from '../support/http-receiver';

describe('test support: HTTP receiver', () => {
  let receiver: HttpReceiver;
  beforeEach(async () => {
    receiver = await startHttpReceiver();
  });
  afterEach(async () => {
    await receiver.close();
  });

  test('answers SendGrid paths with 202 and an empty body, other paths with 200 {"ok":true}, and records everything', async () => {
    const mail = await fetch(`${receiver.url}/v3/mail/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer SG.test' },
      body: JSON.stringify({ personalizations: [{ to: [{ email: 'admin@example.com' }] }], subject: 'Refund requested' }),
    });
    expect(mail.status).toBe(202);
    expect(await mail.text()).toBe('');

    const hook = await fetch(`${receiver.url}/hooks/refunds?x=1`, { method: 'POST', body: '{"id":"evt_1","type":"refund.requested"}' });
    expect(hook.status).toBe(200);
    expect(await hook.json()).toEqual({ ok: true });

    const plain = await fetch(`${receiver.url}/health`);
    expect(plain.status).toBe(200);

    expect(receiver.requests).toHaveLength(3);
    const [first, second, third] = receiver.requests;
    expect(first).toMatchObject({ method: 'POST', path: '/v3/mail/send', status: 202, json: { subject: 'Refund requested' } });
    expect(first!.headers.authorization).toBe('Bearer SG.test');
    expect(second).toMatchObject({ method: 'POST', path: '/hooks/refunds', url: '/hooks/refunds?x=1', body: '{"id":"evt_1","type":"refund.requested"}', json: { id: 'evt_1', type: 'refund.requested' } });
    expect(third).toMatchObject({ method: 'GET', path: '/health', body: '', json: undefined });
  });

  test('keeps a body that is not JSON raw, with json undefined', async () => {
    await fetch(`${receiver.url}/x`, { method: 'POST', body: 'not json {' });
    expect(receiver.requests[0]).toMatchObject({ body: 'not json {', json: undefined });
  });

  test('waitFor resolves with a past or a future matching request', async () => {
    await fetch(`${receiver.url}/early`, { method: 'POST', body: '{"n":1}' });
    await expect(receiver.waitFor((r) => r.path === '/early', 100)).resolves.toMatchObject({ json: { n: 1 } });

    const waiting = receiver.waitFor((r) => (r.json as { n?: number } | undefined)?.n === 2, 5_000);
    setTimeout(() => void fetch(`${receiver.url}/late`, { method: 'POST', body: '{"n":2}' }), 50);
    await expect(waiting).resolves.toMatchObject({ path: '/late' });
  });

  test('waitFor rejects after the timeout with a list of what was received', async () => {
    await fetch(`${receiver.url}/v3/mail/send`, { method: 'POST', body: '{"subject":"hello"}' });
    await expect(receiver.waitFor((r) => r.path === '/never', 150)).rejects.toThrow(/no matching request within 150 ms; received 1 request\(s\):\n {2}1\. POST \/v3\/mail\/send -> 202 \{"subject":"hello"\}/);
    const empty = await startHttpReceiver();
    try {
      await expect(empty.waitFor(() => true, 50)).rejects.toThrow(/received nothing/);
    } finally {
      await empty.close();
    }
  });

  test('failNext answers the next n requests with the error status, then recovers', async () => {
    receiver.failNext(2, 503);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${receiver.url}/v3/mail/send`, { method: 'POST', body: '{}' })).status);
    expect(statuses).toEqual([503, 503, 202]);
    receiver.failNext(1);
    expect((await fetch(`${receiver.url}/hook`, { method: 'POST' })).status).toBe(500);
    expect((await fetch(`${receiver.url}/hook`, { method: 'POST' })).status).toBe(200);
    expect(receiver.requests.map((r) => r.status)).toEqual([503, 503, 202, 500, 200]);
  });

  test('reset forgets requests; close stops listening', async () => {
    await fetch(`${receiver.url}/a`);
    receiver.reset();
    expect(receiver.requests).toHaveLength(0);
    const other = await startHttpReceiver();
    await other.close();
    await expect(fetch(`${other.url}/a`)).rejects.toThrow();
  });
});

describe('test support: webhook signature (X-Refund-Signature)', () => {
  const secret = 'whsec_test_secret';
  const body = JSON.stringify({ id: 'evt_123', type: 'refund.completed', data: { refundId: 'r-1', amount: '1000000' } });

  test('a correct signature passes, with the header format of SPEC', () => {
    const header = signWebhookPayload(body, secret);
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature(header, body, secret)).toBe(true);
  });

  test('matches an HMAC computed independently', async () => {
    const t = 1_700_000_000;
    const { createHmac } = await import('node:crypto');
    const mac = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
    expect(signWebhookPayload(body, secret, t)).toBe(`t=${t},v1=${mac}`);
    expect(verifyWebhookSignature(`t=${t},v1=${mac}`, body, secret, 300, t + 10)).toBe(true);
  });

  test('a tampered body, a wrong secret, an old or future timestamp, or a malformed header fails', () => {
    const now = Math.floor(Date.now() / 1000);
    const header = signWebhookPayload(body, secret, now);
    expect(verifyWebhookSignature(header, body.replace('1000000', '9000000'), secret)).toBe(false);
    expect(verifyWebhookSignature(header, `${body} `, secret)).toBe(false);
    expect(verifyWebhookSignature(header, body, 'another_secret')).toBe(false);
    expect(verifyWebhookSignature(signWebhookPayload(body, secret, now - 301), body, secret)).toBe(false);
    expect(verifyWebhookSignature(signWebhookPayload(body, secret, now - 200), body, secret)).toBe(true);
    expect(verifyWebhookSignature(signWebhookPayload(body, secret, now - 200), body, secret, 60)).toBe(false);
    expect(verifyWebhookSignature(signWebhookPayload(body, secret, now + 3600), body, secret)).toBe(false);
    // the timestamp is part of what is signed: changing it breaks the MAC
    const v1 = header.split('v1=')[1]!;
    expect(verifyWebhookSignature(`t=${now - 1},v1=${v1}`, body, secret)).toBe(false);
    expect(verifyWebhookSignature('', body, secret)).toBe(false);
    expect(verifyWebhookSignature(`v1=${v1}`, body, secret)).toBe(false);
    expect(verifyWebhookSignature(`t=${now}`, body, secret)).toBe(false);
    expect(verifyWebhookSignature(`t=${now},v1=${v1.slice(0, 10)}`, body, secret)).toBe(false);
    expect(verifyWebhookSignature(`t=abc,v1=${v1}`, body, secret)).toBe(false);
  });

  test('end to end: a signed POST received by the receiver verifies against its raw body', async () => {
    const receiver = await startHttpReceiver();
    try {
      await fetch(`${receiver.url}/admin/webhook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'X-Refund-Signature': signWebhookPayload(body, secret) },
        body,
      });
      const request = await receiver.waitFor((r) => r.path === '/admin/webhook', 2_000);
      const header = request.headers[WEBHOOK_SIGNATURE_HEADER];
      expect(typeof header).toBe('string');
      expect(verifyWebhookSignature(header as string, request.body, secret)).toBe(true);
      expect(verifyWebhookSignature(header as string, request.body, 'wrong')).toBe(false);
    } finally {
      await receiver.close();
    }
  });
});
