import Koa from 'koa';
import { IdempotencyKeys } from '../persistence/idempotency-keys';
import { RefundStats } from '../persistence/refund-events';
import { RefundRepository } from '../persistence/refund-repository';
import { serveConsole } from './console';
import type { ApiDeps, ApiServices, ApiState } from './context';
import { apiError, errorHandler } from './errors';
import { createHealthProbes } from './health';
import { RecentChanges } from './recent-changes';
import { createApiMetrics } from './metrics';
import { accessLog } from './middleware/access-log';
import { corsFor } from './middleware/cors';
import { jsonBody } from './middleware/json-body';
import { requestId } from './middleware/request-id';
import { securityHeaders } from './middleware/security-headers';
import { allowedMethodsAt } from './paths';
import { createRouters } from './router';
import { handlers } from './routes';

/**
 * The HTTP API as a Koa app (not listening: src/api/main.ts does that, tests
 * use port 0). Outer to inner: request id, access log and latency, the one
 * error path, security headers, CORS, the admin console's static files, the
 * JSON body, then the routes of the route table.
 */
export function createApp(deps: ApiDeps): Koa<ApiState> {
  const logger = deps.logger.child({ component: 'API' });
  const stats = deps.stats ?? new RefundStats(deps.mongo);
  const base = {
    config: deps.config,
    logger,
    mongo: deps.mongo,
    refundClient: deps.refundClient,
    sweep: deps.sweep,
    treasury: deps.treasury ?? null,
    metrics: deps.metrics ?? createApiMetrics(deps.mongo, stats, deps.treasury),
    refunds: new RefundRepository(deps.mongo, stats),
    idempotency: new IdempotencyKeys(deps.mongo),
    stats,
    recentChanges: new RecentChanges(),
    now: deps.now ?? (() => new Date()),
  };
  const services: ApiServices = { ...base, health: createHealthProbes(base) };

  const app = new Koa<ApiState>();
  app.silent = true; // every error is answered and logged by errorHandler
  app.use(requestId());
  app.use(accessLog(logger, services.metrics));
  app.use(errorHandler(logger, services.metrics));
  app.use(securityHeaders({ hsts: deps.config.nodeEnv === 'production' }));
  const cors = corsFor(deps.config.corsOrigins);
  if (cors) app.use(cors);
  app.use(unmatchedAsErrors());
  app.use(serveConsole(logger));
  app.use(jsonBody());
  for (const router of createRouters(handlers, services)) app.use(router.routes());
  return app;
}

/**
 * A request no route answered: 404 when its path is no route's, else the
 * methods its path takes in Allow (from the route table, so exactly what the
 * OpenAPI document declares) and a 405, or 204 for OPTIONS.
 */
function unmatchedAsErrors(): Koa.Middleware<ApiState> {
  return async (ctx, next) => {
    await next();
    if (ctx.status !== 404 || (ctx.body !== undefined && ctx.body !== null)) return;
    const allowed = allowedMethodsAt(ctx.path);
    if (allowed.length === 0) throw apiError('NOT_FOUND', `no route for ${ctx.method} ${ctx.path}`);
    ctx.set('Allow', allowed.join(', '));
    if (ctx.method === 'OPTIONS') {
      ctx.status = 204;
      return;
    }
    throw apiError('METHOD_NOT_ALLOWED', `${ctx.method} is not allowed here; allowed: ${allowed.join(', ')}`);
  };
}
