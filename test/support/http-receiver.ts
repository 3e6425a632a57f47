import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Name of the webhook signature header (Node lower-cases incoming header names). */
export const WEBHOOK_SIGNATURE_HEADER = 'x-refund-signature';

export interface ReceivedRequest {
  method: string;
  /** Path without the query string, e.g. `/v3/mail/send`. */
  path: string;
  /** Path with the query string, as sent. */
  url: string;
  headers: http.IncomingHttpHeaders;
  /** The raw body, as received (utf-8). */
  body: string;
  /** The body parsed as JSON, or undefined when it is empty or not JSON. */
  json: unknown;
  /** The status this receiver answered with. */
  status: number;
  receivedAt: Date;
}

export interface HttpReceiver {
  /** Base URL, e.g. `http://127.0.0.1:43121` (no trailing slash). */
  readonly url: string;
  /** Every request received so far, oldest first (including the ones answered with an error). */
  readonly requests: readonly ReceivedRequest[];
  /** Resolves with the first request (already received or future) matching `predicate`. */
  waitFor(predicate: (request: ReceivedRequest) => boolean, timeoutMs?: number): Promise<ReceivedRequest>;
  /** Answers the next `n` requests with `status` (default 500) instead of the default answer. */
  failNext(n: number, status?: number): void;
  /** While on, answers every request with `status` (default 500): an outage of the receiver. */
  failAll(on: boolean, status?: number): void;
  /** Forgets the requests received so far and any pending failNext. */
  reset(): void;
  close(): Promise<void>;
}

/** Starts a receiver on 127.0.0.1 at a free port. It stands in for SendGrid and for the admin webhook endpoint. */
export async function startHttpReceiver(): Promise<HttpReceiver> {
  const requests: ReceivedRequest[] = [];
  const events = new EventEmitter();
  let failures: { remaining: number; status: number } = { remaining: 0, status: 500 };
  let outage: number | null = null;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = req.url ?? '/';
      const path = url.split('?')[0] ?? '/';
      let status: number;
      let responseBody: string;
      if (outage !== null) {
        status = outage;
        responseBody = JSON.stringify({ error: 'outage injected by the test receiver' });
      } else if (failures.remaining > 0) {
        failures.remaining -= 1;
        status = failures.status;
        responseBody = JSON.stringify({ error: 'failure injected by the test receiver' });
      } else if (path.startsWith('/v3/mail/send')) {
        status = 202; // SendGrid answers 202 Accepted with an empty body
        responseBody = '';
      } else {
        status = 200;
        responseBody = JSON.stringify({ ok: true });
      }
      const record: ReceivedRequest = { method: req.method ?? 'GET', path, url, headers: req.headers, body, json: parseJson(body), status, receivedAt: new Date() };
      requests.push(record);
      if (responseBody === '') res.writeHead(status).end();
      else res.writeHead(status, { 'content-type': 'application/json' }).end(responseBody);
      events.emit('request', record);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    waitFor(predicate, timeoutMs = 10_000) {
      const found = requests.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise<ReceivedRequest>((resolve, reject) => {
        const onRequest = (request: ReceivedRequest) => {
          if (!predicate(request)) return;
          clearTimeout(timer);
          events.off('request', onRequest);
          resolve(request);
        };
        const timer = setTimeout(() => {
          events.off('request', onRequest);
          reject(new Error(`no matching request within ${timeoutMs} ms; received ${describe(requests)}`));
        }, timeoutMs);
        events.on('request', onRequest);
      });
    },
    failNext(n, status = 500) {
      failures = { remaining: n, status };
    },
    failAll(on, status = 500) {
      outage = on ? status : null;
    },
    reset() {
      requests.length = 0;
      failures = { remaining: 0, status: 500 };
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}

function parseJson(body: string): unknown {
  if (body === '') return undefined;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

function describe(requests: readonly ReceivedRequest[]): string {
  if (requests.length === 0) return 'nothing';
  const lines = requests.map((r, i) => `  ${i + 1}. ${r.method} ${r.url} -> ${r.status} ${truncate(r.body, 200)}`);
  return `${requests.length} request(s):\n${lines.join('\n')}`;
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** The `X-Refund-Signature` value for `rawBody` (SPEC): `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`. */
export function signWebhookPayload(rawBody: string, secret: string, timestampSeconds = Math.floor(Date.now() / 1000)): string {
  const mac = crypto.createHmac('sha256', secret).update(`${timestampSeconds}.${rawBody}`).digest('hex');
  return `t=${timestampSeconds},v1=${mac}`;
}

/**
 * Checks an `X-Refund-Signature` header against the raw body: the HMAC must match
 * (constant-time comparison; any of several `v1` values may) and `t` must be within
 * `toleranceSeconds` of now (either direction).
 */
export function verifyWebhookSignature(header: string, rawBody: string, secret: string, toleranceSeconds = 300, nowSeconds = Math.floor(Date.now() / 1000)): boolean {
  let timestamp: string | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') timestamp = value;
    else if (key === 'v1') signatures.push(value);
  }
  if (timestamp === undefined || !/^\d+$/.test(timestamp) || signatures.length === 0) return false;
  if (Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds) return false;
  const expected = crypto.createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest();
  let matched = false;
  for (const signature of signatures) {
    if (!/^[0-9a-fA-F]{64}$/.test(signature)) continue;
    if (crypto.timingSafeEqual(expected, Buffer.from(signature, 'hex'))) matched = true;
  }
  return matched;
}
