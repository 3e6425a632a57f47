import crypto from 'node:crypto';
import type { Logger } from '../logger';
import type { TreasuryEvent, TreasuryEventType } from '../notifications/events';
import type { TreasuryStore } from '../persistence/treasury-store';

export type SendWebhook = (event: TreasuryEvent) => Promise<unknown>;

/**
 * Alerts an operator must act on: logged, kept open in the store (so /api/status
 * and /metrics show them), and sent once per episode to the admin webhook.
 */
export class TreasuryAlerts {
  private readonly log: Logger;

  constructor(
    private readonly store: TreasuryStore,
    private readonly sendWebhook: SendWebhook,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'Chain', subcomponent: 'TreasuryAlerts' });
  }

  async raise(type: TreasuryEventType, key: string, message: string, details: Record<string, unknown> = {}): Promise<void> {
    const opened = await this.store.raiseAlert({ type, key, message, details });
    if (!opened) return;
    this.log.error({ alert: type, key, ...details }, message);
    const event: TreasuryEvent = {
      id: `evt_${type.replace('.', '_')}_${crypto.createHash('sha256').update(key).digest('hex').slice(0, 12)}_${opened.since.getTime()}`,
      type,
      createdAt: opened.since.toISOString(),
      data: { message, ...details },
    };
    try {
      await this.sendWebhook(event);
    } catch (error) {
      this.log.error({ alert: type, eventId: event.id, error: (error as Error).message }, 'could not deliver the treasury alert webhook (the alert stays open in /api/status)');
    }
  }

  async clear(type: TreasuryEventType, key: string, message: string): Promise<void> {
    if (await this.store.clearAlert(type, key)) this.log.info({ alert: type, key }, message);
  }
}
