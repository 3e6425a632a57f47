import pino from 'pino';
import { Writable } from 'node:stream';
import { createEmailActivities } from '../../activities/email';
import { loadConfig } from '../../src/config';
import type { RefundEvent } from '../../src/notifications/events';
import { refundView } from '../support/fixtures';

describe('email without SENDGRID_API_KEY (development)', () => {
  test('is logged with its recipient and subject instead of being sent', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()));
        done();
      },
    });
    const config = loadConfig({ SENDGRID_API_URL: 'http://127.0.0.1:9/unreachable', REFUND_NOTIFICATION_EMAIL: 'finance@example.com' });
    const { sendRefundEmail } = createEmailActivities(config.email, pino({ level: 'info' }, sink));
    const event: RefundEvent = { id: 'evt_test_1_requested', type: 'refund.requested', createdAt: new Date().toISOString(), data: { refund: refundView() } };

    await expect(sendRefundEmail({ event, audience: 'user', to: 'subscriber@example.com' })).resolves.toEqual({ sent: false, to: 'subscriber@example.com' });
    await expect(sendRefundEmail({ event, audience: 'finance' })).resolves.toEqual({ sent: false, to: 'finance@example.com' });
    expect(lines.map((line) => line.to)).toEqual(['subscriber@example.com', 'finance@example.com']);
    expect(lines[0]).toMatchObject({ component: 'Notifications', eventId: 'evt_test_1_requested', msg: expect.stringContaining('no SENDGRID_API_KEY') });
    expect(String(lines[1]!.subject)).toMatch(/^\[refund pending_approval\] We received your refund request/);
  });
});
