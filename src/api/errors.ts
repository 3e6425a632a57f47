import { ScheduleNotFoundError, WorkflowUpdateRPCTimeoutOrCancelledError, isGrpcServiceError, ServiceError } from '@temporalio/client';
import type { Middleware } from 'koa';
import mongoose from 'mongoose';
import type { Logger } from '../logger';
import { reportError } from '../observability/sentry';
import type { ApiMetrics } from './metrics';
import type { ApiState } from './context';

/**
 * Every error the API answers with, by code. The one error shape everywhere:
 * `{ error: { code, message, details, requestId } }`. Clients act on `code`;
 * `message` is for humans; `details` carries what the code needs (field paths,
 * reason codes, the existing refund id, the current status).
 */
export const ERROR_CODES = {
  VALIDATION_ERROR: { status: 400, meaning: 'a parameter, query value or body field is invalid; details lists each { path, message }' },
  MALFORMED_JSON: { status: 400, meaning: 'the body is not valid JSON' },
  INVALID_DECISION: { status: 400, meaning: 'the workflow refused the decision input (for example an empty rejection reason)' },
  INVALID_IDEMPOTENCY_KEY: { status: 400, meaning: 'the Idempotency-Key header must be 1-255 visible ASCII characters' },
  UNAUTHENTICATED: { status: 401, meaning: 'no Authorization: Bearer token was sent' },
  INVALID_TOKEN: { status: 401, meaning: 'the token is malformed, wrongly signed, or lacks a valid sub, role or exp' },
  TOKEN_EXPIRED: { status: 401, meaning: 'the token has expired' },
  FORBIDDEN: { status: 403, meaning: 'the caller\'s role or ownership does not allow this' },
  NOT_FOUND: { status: 404, meaning: 'no such route' },
  SUBSCRIPTION_NOT_FOUND: { status: 404, meaning: 'no subscription has this id' },
  REFUND_NOT_FOUND: { status: 404, meaning: 'no refund has this id' },
  METHOD_NOT_ALLOWED: { status: 405, meaning: 'the route exists but not for this method (see the Allow header)' },
  REFUND_EXISTS: { status: 409, meaning: 'a live or completed refund of the subscription exists; details.refundId names it' },
  REFUND_NOT_PENDING: { status: 409, meaning: 'the refund is no longer pending approval; details.refundStatus says where it is' },
  REFUND_NOT_FAILED: { status: 409, meaning: 'only a refund whose payout failed can be retried; details.refundStatus says where it is' },
  REFUND_NOT_RETRYABLE: { status: 409, meaning: 'this failed payout must not be retried (money may have moved, or the refund itself is wrong); details.failureCode says why' },
  REFUND_CLOSING: { status: 409, meaning: 'the previous refund of the subscription (cancelled or rejected) is still finishing; retry in a few seconds' },
  REFUND_NOT_READY: { status: 409, meaning: 'the refund is still being prepared; retry in a moment' },
  IDEMPOTENCY_IN_PROGRESS: { status: 409, meaning: 'a request with this Idempotency-Key is still running; retry later for its answer' },
  PAYLOAD_TOO_LARGE: { status: 413, meaning: 'the body is larger than 16 KiB' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, meaning: 'a body was sent with a Content-Type other than application/json' },
  NOT_ELIGIBLE: { status: 422, meaning: 'the subscription cannot be refunded; details.reasons lists the reason codes' },
  INVALID_SUBSCRIPTION: { status: 422, meaning: 'the stored subscription document is malformed; details names the field' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, meaning: 'this Idempotency-Key was already used with a different body' },
  INTERNAL_ERROR: { status: 500, meaning: 'an unexpected failure; it is logged with the request id' },
  MONGO_UNAVAILABLE: { status: 503, meaning: 'MongoDB cannot be reached; retry later' },
  TEMPORAL_UNAVAILABLE: { status: 503, meaning: 'Temporal (or every worker) cannot be reached in time; retry later' },
  SWEEP_SCHEDULE_MISSING: { status: 503, meaning: 'the sweep schedule does not exist yet: a worker creates it when it starts' },
} as const satisfies Record<string, { status: number; meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details: unknown = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Shorthand for an error whose status is the code's documented status. */
export function apiError(code: ErrorCode, message: string, details: unknown = null): ApiError {
  return new ApiError(ERROR_CODES[code].status, code, message, details);
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details: unknown; requestId?: string };
}

/**
 * The one HTTP error path: known failures become their code, infrastructure
 * outages become 503s, anything else a 500 whose message stays in the log.
 */
export function errorHandler(logger: Logger, metrics: ApiMetrics): Middleware<ApiState> {
  return async (ctx, next) => {
    try {
      await next();
    } catch (thrown) {
      const error = toApiError(thrown);
      if (error.code === 'INTERNAL_ERROR') {
        logger.error({ err: thrown, requestId: ctx.state.requestId, method: ctx.method, path: ctx.path }, 'unhandled error');
        reportError(thrown, { requestId: ctx.state.requestId, method: ctx.method, route: ctx.state.route ?? ctx.path });
      } else if (error.status === 503) {
        logger.warn({ requestId: ctx.state.requestId, code: error.code, cause: (thrown as Error)?.message }, 'dependency unavailable');
      }
      metrics.httpErrors.inc({ code: error.code });
      ctx.status = error.status;
      ctx.body = errorBody(error, ctx.state.requestId);
      if (error.status === 503) ctx.set('Retry-After', '5');
    }
  };
}

export function errorBody(error: ApiError, requestId: string): ErrorBody {
  return { error: { code: error.code, message: error.message, details: error.details, requestId } };
}

export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (isMongoUnavailable(error)) return apiError('MONGO_UNAVAILABLE', 'the database cannot be reached; retry later');
  if (error instanceof ScheduleNotFoundError) return apiError('SWEEP_SCHEDULE_MISSING', 'the sweep schedule does not exist yet: start a worker, it creates the schedule');
  if (isTemporalUnavailable(error)) return apiError('TEMPORAL_UNAVAILABLE', 'the workflow service cannot be reached in time; retry later');
  return apiError('INTERNAL_ERROR', 'an unexpected error occurred; it has been logged with the request id');
}

const MONGO_OUTAGE_ERRORS = [
  mongoose.mongo.MongoServerSelectionError,
  mongoose.mongo.MongoNetworkError,
  mongoose.mongo.MongoNotConnectedError,
  mongoose.mongo.MongoTopologyClosedError,
];

/** Server selection, network and "not connected" failures of the driver, and mongoose's buffering timeout during an outage. */
export function isMongoUnavailable(error: unknown): boolean {
  return causes(error).some(
    (cause) =>
      MONGO_OUTAGE_ERRORS.some((type) => cause instanceof type) ||
      cause.name === 'MongooseServerSelectionError' ||
      (cause instanceof mongoose.Error && /buffering timed out|before initial connection is complete|Connection was force closed/i.test(cause.message)),
  );
}

const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;

/**
 * gRPC UNAVAILABLE / DEADLINE_EXCEEDED anywhere in the cause chain, or an update no worker accepted in time.
 * Outages stay thrown by RefundWorkflowClient (its outcomes are the refund's answers, not the transport's)
 * and are mapped once, here at the API's edge, like MongoDB's: so this file, not the routes, imports the SDK.
 */
export function isTemporalUnavailable(error: unknown): boolean {
  return causes(error).some(
    (cause) =>
      cause instanceof WorkflowUpdateRPCTimeoutOrCancelledError ||
      (isGrpcServiceError(cause) && (cause.code === GRPC_UNAVAILABLE || cause.code === GRPC_DEADLINE_EXCEEDED)) ||
      (cause instanceof ServiceError && /failed to connect/i.test(cause.message)),
  );
}

function causes(error: unknown): Error[] {
  const chain: Error[] = [];
  let current: unknown = error;
  while (current instanceof Error && chain.length < 10 && !chain.includes(current)) {
    chain.push(current);
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}
