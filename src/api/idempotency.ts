import crypto from 'node:crypto';
import type { IdempotencyKeys, StoredResponse } from '../persistence/idempotency-keys';
import type { Caller } from './auth';
import { apiError, errorBody, toApiError } from './errors';

/**
 * `Idempotency-Key` on POSTs (Stripe's convention): the first answer for a
 * (caller, method and path, key) is stored and replayed to every retry with the
 * same body for 24 hours. The same key with another body is refused (422); a
 * retry arriving while the first request still runs gets 409. Answers of 5xx
 * are not stored, so a retry after an outage runs again.
 */

/** 1-255 visible ASCII characters; the OpenAPI document states this pattern. */
export const IDEMPOTENCY_KEY_PATTERN = /^[!-~]{1,255}$/;
export const REPLAYED_HEADER = 'Idempotent-Replayed';

export interface IdempotentRequest {
  key: string;
  caller: Caller;
  method: string;
  path: string;
  body: unknown;
  requestId: string;
}

/** Runs `execute` once per key, or answers with the stored response. `execute` must return the response as it will be sent. */
export async function runIdempotently(keys: IdempotencyKeys, request: IdempotentRequest, execute: () => Promise<StoredResponse>): Promise<StoredResponse> {
  if (!IDEMPOTENCY_KEY_PATTERN.test(request.key)) throw apiError('INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1-255 visible ASCII characters');
  const scope = sha256(`${request.caller.sub}\n${request.method} ${request.path}\n${request.key}`);
  const outcome = await keys.claim(scope, sha256(canonicalJson(request.body ?? null)));
  switch (outcome.kind) {
    case 'mismatch':
      throw apiError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was already used with a different body');
    case 'in-progress':
      throw apiError('IDEMPOTENCY_IN_PROGRESS', 'a request with this Idempotency-Key is still being processed; retry shortly');
    case 'replay':
      return { ...outcome.response, headers: { ...outcome.response.headers, [REPLAYED_HEADER]: 'true' } };
    case 'claimed':
      break;
  }
  let response: StoredResponse;
  try {
    response = await execute();
  } catch (error) {
    const failure = toApiError(error);
    if (failure.status >= 500) await keys.release(outcome.claim).catch(() => undefined);
    // A refusal (4xx) is an answer like any other: a retry gets the same one.
    else await keys.complete(outcome.claim, { status: failure.status, body: JSON.stringify(errorBody(failure, request.requestId)), headers: {} }).catch(() => undefined);
    throw error;
  }
  // The request has had its effect: failing to store its answer must not turn it into an error. A retry then
  // meets the unfinished claim (409) until it counts as abandoned, and runs again against the state it left.
  if (response.status >= 500) await keys.release(outcome.claim).catch(() => undefined);
  else await keys.complete(outcome.claim, response).catch(() => undefined);
  return response;
}

function sha256(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}

/** JSON with object keys sorted, so `{a,b}` and `{b,a}` count as the same body. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value as Record<string, unknown>)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
