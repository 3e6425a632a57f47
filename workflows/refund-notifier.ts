import { ActivityFailure, ApplicationFailure, log } from '@temporalio/workflow';
import type { NotificationFailure } from '../src/domain/refund';
import { EMAIL_RULES, type RefundEvent, type RefundEventType } from '../src/notifications/events';
import type { NotificationActivities, RecordActivities } from './refund-activities';
import { nowIso, type RefundState } from './refund-state';

/**
 * Tells the subscriber, finance and the admin system about each step. Runs
 * beside the money path: a notification never holds a payout back or undoes
 * it. A notification that fails for good is recorded, never retried forever.
 */
export class RefundNotifier {
  private readonly deliveries: Promise<void>[] = [];

  constructor(
    private readonly refundId: string,
    private readonly refund: RefundState,
    private readonly notifications: NotificationActivities,
    private readonly records: RecordActivities,
    private readonly userEmail: () => string | null,
  ) {}

  notify(type: RefundEventType): void {
    const snapshot = this.refund.refund;
    const event: RefundEvent = { id: `evt_${this.refundId}_${snapshot.statusHistory.length}_${type.slice('refund.'.length)}`, type, createdAt: nowIso(), data: { refund: snapshot } };
    this.deliver(event, 'webhook', 'admin webhook', () => this.notifications.sendAdminWebhook(event));
    const rules = EMAIL_RULES[type];
    const userEmail = this.userEmail();
    if (rules.user && userEmail) this.deliver(event, 'email', userEmail, () => this.notifications.sendRefundEmail({ event, audience: 'user', to: userEmail }));
    if (rules.finance) this.deliver(event, 'email', 'finance', () => this.notifications.sendRefundEmail({ event, audience: 'finance' }));
  }

  /** Resolves once every notification was delivered or recorded as failed. */
  async settled(): Promise<void> {
    await Promise.all(this.deliveries);
  }

  private deliver(event: RefundEvent, channel: NotificationFailure['channel'], recipient: string, send: () => Promise<unknown>): void {
    this.deliveries.push(
      send().then(
        () => undefined,
        async (error: unknown) => {
          const failure: NotificationFailure = { eventId: event.id, channel, recipient, error: describeFailure(error), at: nowIso() };
          this.refund.set({ ...this.refund.refund, notificationFailures: [...this.refund.refund.notificationFailures, failure] });
          await this.records.recordNotificationFailure({ refundId: this.refundId, failure }).catch(() => log.warn('could not record a notification failure', { ...failure }));
        },
      ),
    );
  }
}

/** "<ErrorType>: <message>" from an activity failure, for failureReason and alerts. */
export function describeFailure(error: unknown): string {
  const cause = rootCause(error);
  if (cause instanceof ApplicationFailure) return `${cause.type ?? 'Error'}: ${cause.message}`;
  return cause instanceof Error ? cause.message : String(cause);
}

/** The failure's type (an ApplicationFailure's), if it has one. */
export function failureType(error: unknown): string | null {
  const cause = rootCause(error);
  return cause instanceof ApplicationFailure ? (cause.type ?? null) : null;
}

function rootCause(error: unknown): unknown {
  let cause: unknown = error;
  while (cause instanceof ActivityFailure && cause.cause) cause = cause.cause;
  return cause;
}
