import cors from '@koa/cors';
import type { Middleware } from 'koa';

/** CORS for the configured origins only (CORS_ORIGINS); `*` allows any. No list, no CORS headers at all. */
export function corsFor(origins: readonly string[]): Middleware | null {
  if (origins.length === 0) return null;
  const anyOrigin = origins.includes('*');
  return cors({
    origin: (ctx) => {
      const origin = ctx.get('Origin');
      return anyOrigin || origins.includes(origin) ? origin : '';
    },
    allowMethods: ['GET', 'POST', 'OPTIONS'],
    allowHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-Request-Id'],
    exposeHeaders: ['X-Request-Id', 'Idempotent-Replayed', 'Location', 'Retry-After'],
    maxAge: 600,
    credentials: false,
    keepHeadersOnError: true,
  });
}
