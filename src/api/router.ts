import Router, { type RouterMiddleware } from '@koa/router';
import type { ParameterizedContext } from 'koa';
import type { z } from 'zod';
import type { StoredResponse } from '../persistence/idempotency-keys';
import { authorize, requireRole } from './access';
import { authenticate, type Caller } from './auth';
import type { ApiServices, ApiState } from './context';
import { apiError } from './errors';
import { runIdempotently } from './idempotency';
import { routePathOf } from './paths';
import { ROUTES, takesIdempotencyKey, type HandlerInput, type Handlers, type OperationId, type Reply, type RouteSpec } from './route-table';

/** The refund routes live under `/api/refunds/pro-rata`: this prefix, then `/pro-rata/...` in the route table. */
export const REFUNDS_PREFIX = '/api/refunds';

/**
 * Registers every route of the table on two routers: the refund routes under
 * REFUNDS_PREFIX, the rest at the root. Each route runs the same pipeline:
 * authenticate -> role gate -> validate params, query, body -> (through
 * Idempotency-Key when one is sent with a POST) ownership rule -> handler ->
 * JSON answer. The gates are the route's policy from src/api/access.ts.
 */
export function createRouters(handlers: Handlers, services: ApiServices): Router<ApiState>[] {
  const refunds = new Router<ApiState>({ prefix: REFUNDS_PREFIX });
  const root = new Router<ApiState>();
  for (const operationId of Object.keys(ROUTES) as OperationId[]) {
    const spec: RouteSpec = ROUTES[operationId];
    const [router, path] = spec.path.startsWith(`${REFUNDS_PREFIX}/`) ? [refunds, spec.path.slice(REFUNDS_PREFIX.length)] : [root, spec.path];
    router[spec.method](operationId, path, endpoint(spec, handlers[operationId] as GenericHandler, services));
  }
  return [refunds, root];
}

type GenericHandler = (input: HandlerInput<RouteSpec>, services: ApiServices) => Promise<Reply>;

function endpoint(spec: RouteSpec, handler: GenericHandler, services: ApiServices): RouterMiddleware<ApiState> {
  return async (ctx, next) => {
    if (routePathOf(ctx.path) !== spec.path) return next(); // a concrete path took it: GET /calculate is not getRefund
    ctx.state.route = spec.path;
    let caller: Caller | undefined;
    if (spec.access !== 'public') {
      caller = await authenticate(ctx.get('Authorization') || undefined, services.config.auth.jwtSecret);
      ctx.state.caller = caller;
      requireRole(caller, spec.access);
    }
    const input = {
      params: validate(spec.params, ctx.params, 'params'),
      query: validate(spec.query, ctx.query, 'query'),
      // No body reads as {}; a JSON null is a body, and not an object.
      body: validate(spec.body, ctx.state.body === undefined ? {} : ctx.state.body, 'body'),
      caller,
      requestId: ctx.state.requestId,
      idempotencyKey: typeof ctx.request.headers['idempotency-key'] === 'string' ? ctx.request.headers['idempotency-key'] : undefined,
    } as HandlerInput<RouteSpec>;

    const execute = async (): Promise<StoredResponse> => {
      // Inside the idempotent part, as a handler's own refusals are: a 403 or 404 is an answer a retry gets again.
      const subject = spec.ownership ? await authorize(spec.ownership, caller, input, services) : undefined;
      const reply = await handler({ ...input, subject } as HandlerInput<RouteSpec>, services);
      return { status: reply.status ?? spec.success.status, body: serialize(reply.body, spec), headers: reply.headers ?? {} };
    };
    // Present but empty is a bad key (400), not an absent one.
    const idempotencyKey = ctx.request.headers['idempotency-key'];
    const response =
      takesIdempotencyKey(spec) && typeof idempotencyKey === 'string' && caller
        ? await runIdempotently(services.idempotency, { key: idempotencyKey, caller, method: ctx.method, path: ctx.path, body: ctx.state.body, requestId: ctx.state.requestId }, execute)
        : await execute();
    send(ctx, spec, response);
  };
}

function validate(schema: z.ZodType | undefined, value: unknown, where: 'params' | 'query' | 'body'): unknown {
  if (!schema) return undefined;
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const details = result.error.issues.map((issue) => ({ path: [where, ...issue.path.map(String)].join('.'), message: issue.message }));
  throw apiError('VALIDATION_ERROR', `invalid ${details.map((detail) => detail.path).join(', ')}`, details);
}

function serialize(body: unknown, spec: RouteSpec): string {
  return spec.success.contentType === 'text/plain' ? String(body) : JSON.stringify(body);
}

function send(ctx: ParameterizedContext<ApiState>, spec: RouteSpec, response: StoredResponse): void {
  ctx.status = response.status;
  ctx.set(response.headers);
  ctx.type = spec.success.contentType === 'text/plain' ? 'text/plain; version=0.0.4; charset=utf-8' : 'application/json; charset=utf-8';
  ctx.body = response.body;
}
