import crypto from 'node:crypto';

export const SIGNATURE_HEADER = 'X-Refund-Signature';

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, as receivers verify it (see docs/API.md). */
export function signWebhook(rawBody: string, secret: string, timestampSeconds = Math.floor(Date.now() / 1000)): string {
  const digest = crypto.createHmac('sha256', secret).update(`${timestampSeconds}.${rawBody}`).digest('hex');
  return `t=${timestampSeconds},v1=${digest}`;
}
