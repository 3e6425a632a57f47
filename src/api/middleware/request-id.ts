import crypto from 'node:crypto';
import type { Middleware } from 'koa';
import type { ApiState } from '../context';

export const REQUEST_ID_HEADER = 'X-Request-Id';
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Adopts a sane incoming X-Request-Id (from a proxy or the client), else makes one; echoed on every response. */
export function requestId(): Middleware<ApiState> {
  return async (ctx, next) => {
    const incoming = ctx.get(REQUEST_ID_HEADER);
    ctx.state.requestId = SANE_REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    ctx.set(REQUEST_ID_HEADER, ctx.state.requestId);
    await next();
  };
}
