import type * as SentryModule from '@sentry/node';
import type { Config } from '../config';

/** Loaded only when SENTRY_DSN is set: @sentry/node alone adds about 30 MB to a process's resident memory. */
let Sentry: typeof SentryModule | undefined;
let enabled = false;

/**
 * Error reporting to Sentry when SENTRY_DSN is set; a no-op otherwise. Errors
 * only: no tracing, no request bodies (they may carry personal data).
 */
export function initSentry(config: Pick<Config, 'sentryDsn' | 'nodeEnv'>, component: 'api' | 'worker'): void {
  if (!config.sentryDsn || enabled) return;
  Sentry ??= require('@sentry/node') as typeof SentryModule;
  Sentry.init({
    dsn: config.sentryDsn,
    environment: config.nodeEnv,
    tracesSampleRate: 0,
    defaultIntegrations: false,
    integrations: [Sentry.onUncaughtExceptionIntegration(), Sentry.onUnhandledRejectionIntegration()],
    initialScope: { tags: { component } },
  });
  enabled = true;
}

export function reportError(error: unknown, context: Record<string, unknown> = {}): void {
  if (enabled) Sentry!.captureException(error, { extra: context });
}

/** Sends what is queued before the process exits. */
export async function flushSentry(timeoutMs = 2_000): Promise<void> {
  if (enabled) await Sentry!.flush(timeoutMs);
}

/** Stops reporting (tests, and processes that re-initialise). */
export async function closeSentry(): Promise<void> {
  if (!enabled) return;
  await Sentry!.close(2_000);
  enabled = false;
}
