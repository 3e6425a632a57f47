import { Client } from '@sendgrid/client';
import { MailService } from '@sendgrid/mail';
import { ApplicationFailure } from '@temporalio/activity';
import type { Config } from '../src/config';
import type { Logger } from '../src/logger';
import { renderRefundEmail } from '../src/notifications/email-templates';
import type { EmailAudience, RefundEvent } from '../src/notifications/events';

export interface EmailRequest {
  event: RefundEvent;
  audience: EmailAudience;
  /** The subscriber's address; the finance address comes from REFUND_NOTIFICATION_EMAIL. */
  to?: string;
}

export interface EmailResult {
  sent: boolean;
  to: string;
}

/** SendGrid email. Without SENDGRID_API_KEY (development) the email is logged instead of sent. */
export function createEmailActivities(config: Config['email'], logger: Logger) {
  const log = logger.child({ component: 'Notifications' });
  const mail = new MailService();
  if (config.sendgridApiKey) {
    const client = new Client();
    client.setApiKey(config.sendgridApiKey); // resets the base URL to SendGrid's, so ours goes after it
    client.setDefaultRequest('baseUrl', config.sendgridApiUrl);
    mail.setClient(client);
    mail.setTimeout(10_000);
  }

  async function sendRefundEmail({ event, audience, to }: EmailRequest): Promise<EmailResult> {
    const recipient = audience === 'finance' ? config.financeCopyTo : to;
    if (!recipient) throw ApplicationFailure.nonRetryable(`no address for the ${audience} email of ${event.id}`, 'EmailRecipientMissing');
    const email = renderRefundEmail(event, audience);
    if (!config.sendgridApiKey) {
      log.info({ eventId: event.id, type: event.type, to: recipient, subject: email.subject }, 'email not sent (no SENDGRID_API_KEY): logged instead');
      return { sent: false, to: recipient };
    }
    try {
      await mail.send({
        to: recipient,
        from: config.from,
        subject: email.subject,
        text: email.text,
        html: email.html,
        customArgs: { eventId: event.id, audience },
        headers: { 'X-Refund-Event-Id': `${event.id}:${audience}` },
      });
    } catch (error) {
      const status = (error as { code?: number }).code;
      // 4xx other than rate limiting will not get better by retrying.
      if (typeof status === 'number' && status >= 400 && status < 500 && status !== 408 && status !== 429) {
        throw ApplicationFailure.nonRetryable(`SendGrid refused the email (${status}): ${(error as Error).message}`, 'EmailRejected');
      }
      throw error;
    }
    log.info({ eventId: event.id, type: event.type, to: recipient }, 'email sent');
    return { sent: true, to: recipient };
  }

  return { sendRefundEmail };
}
