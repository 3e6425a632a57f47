import type { Middleware } from 'koa';
import type { Logger } from '../../logger';
import type { ApiState } from '../context';
import type { ApiMetrics } from '../metrics';

/**
 * One log line and one latency observation per request, after the answer is
 * known. Logs the route template, never the token or the Authorization header.
 */
export function accessLog(logger: Logger, metrics: ApiMetrics): Middleware<ApiState> {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = ctx.state.route ?? 'unmatched';
      metrics.httpDuration.observe({ method: ctx.method, route, status: String(ctx.status) }, seconds);
      const entry = {
        requestId: ctx.state.requestId,
        method: ctx.method,
        route,
        path: ctx.path,
        status: ctx.status,
        durationMs: Math.round(seconds * 1e4) / 10,
        sub: ctx.state.caller?.sub,
        role: ctx.state.caller?.role,
      };
      if (ctx.status >= 500) logger.error(entry, 'request failed');
      else logger.info(entry, 'request');
    }
  };
}
