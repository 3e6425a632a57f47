import { ApplicationFailure } from '@temporalio/activity';
import type { Config } from '../src/config';
import type { Logger } from '../src/logger';
import type { WebhookEvent } from '../src/notifications/events';
import { SIGNATURE_HEADER, signWebhook } from '../src/notifications/webhook-signature';

export interface WebhookResult {
  delivered: boolean;
  status?: number;
}

/** Posts the event to ADMIN_WEBHOOK_URL, signed; the event id stays the same across retries so receivers can dedupe. */
export function createWebhookActivities(config: Config['webhook'], logger: Logger) {
  const log = logger.child({ component: 'Notifications' });

  async function sendAdminWebhook(event: WebhookEvent): Promise<WebhookResult> {
    if (!config.url) return { delivered: false };
    const body = JSON.stringify(event);
    const response = await fetch(config.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [SIGNATURE_HEADER]: signWebhook(body, config.secret),
        'X-Refund-Event-Id': event.id,
        'X-Refund-Event-Type': event.type,
      },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    if (response.ok) {
      log.info({ eventId: event.id, type: event.type, status: response.status }, 'webhook delivered');
      return { delivered: true, status: response.status };
    }
    const message = `webhook ${config.url} answered ${response.status} to ${event.id}`;
    if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
      throw ApplicationFailure.nonRetryable(message, 'WebhookRejected');
    }
    throw ApplicationFailure.retryable(message, 'WebhookUnavailable');
  }

  return { sendAdminWebhook };
}
