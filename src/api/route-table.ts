import type { z } from 'zod';
import { ACCESS, type OwnershipRule } from './access';
import type { Caller, Role } from './auth';
import type { ApiServices } from './context';
import {
  ApproveBody,
  CalculateBody,
  CancelBody,
  ConsoleSettingsSchema,
  CreateRefundBody,
  CreatorIdParams,
  HealthSchema,
  ListQuery,
  PauseSweepBody,
  PendingListQuery,
  RefundCalculationSchema,
  RefundIdParams,
  RefundPageSchema,
  RefundSchema,
  RefundSearchSchema,
  RejectBody,
  RetryBody,
  SearchQuery,
  StatisticsSchema,
  SubscriptionIdParams,
  SweepStatusSchema,
  TriggerSchema,
  UnpauseSweepBody,
  UserIdParams,
} from './schemas';

/**
 * Every route of the service, once. The Koa routers are registered from this
 * table (src/api/router.ts) and the OpenAPI document is generated from it
 * (src/api/openapi.ts), so the two cannot drift. Order matters: static paths
 * come before `/:refundId`, so `/statistics` is never read as a refund id.
 *
 * `access` and `ownership` come from one policy of src/api/access.ts, which
 * holds every rule of who may do what: the role gate checked before anything
 * else, then the rule the router checks against the stored subscription or
 * refund before the handler runs.
 */
export interface RouteSpec {
  method: 'get' | 'post';
  /** Full path in Koa syntax (`:param`). */
  path: string;
  tag: 'Refunds' | 'Operations';
  summary: string;
  description?: string;
  access: 'public' | readonly Role[];
  ownership?: OwnershipRule<unknown>;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  success: {
    status: number;
    description: string;
    schema?: z.ZodType;
    contentType?: 'application/json' | 'text/plain';
    /** Headers every success answer carries, by name, with what they say. */
    headers?: Record<string, string>;
  };
  /** Error statuses the handler itself answers; those of the pipeline in front of it are added by `errorStatusesOf`. */
  errors: readonly number[];
  /** Operations the refund in the success answer leads to, with its refundId: OpenAPI links (create -> get -> approve). */
  links?: readonly string[];
}

const route = <const S extends RouteSpec>(spec: S): S => spec;

/** What can be done with a refund once its id is known. */
const REFUND_OPERATIONS = ['getRefund', 'approveRefund', 'rejectRefund', 'cancelRefund', 'retryRefund'] as const;

/** Authenticated POSTs take an `Idempotency-Key` (src/api/idempotency.ts). */
export function takesIdempotencyKey(spec: RouteSpec): boolean {
  return spec.method === 'post' && spec.access !== 'public';
}

/**
 * Every error status a route can answer: its handler's, and those of the
 * pipeline every request goes through (src/api/router.ts, src/api/app.ts), so
 * the OpenAPI document lists what the server really does.
 */
export function errorStatusesOf(spec: RouteSpec): number[] {
  const statuses = new Set(spec.errors);
  const add = (...more: number[]) => more.forEach((status) => statuses.add(status));
  if (spec.access !== 'public') add(401, 403); // token; role or ownership (src/api/access.ts)
  if (spec.params || spec.query || spec.body) add(400); // VALIDATION_ERROR
  if (spec.method === 'post') add(400, 413, 415); // the JSON body: MALFORMED_JSON, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE
  if (takesIdempotencyKey(spec)) add(400, 409, 422); // INVALID_IDEMPOTENCY_KEY, IDEMPOTENCY_IN_PROGRESS, IDEMPOTENCY_KEY_REUSED
  add(500, 503); // INTERNAL_ERROR; MongoDB or Temporal unavailable
  return [...statuses].sort((a, b) => a - b);
}

export const ROUTES = {
  calculateRefund: route({
    method: 'post',
    path: '/api/refunds/pro-rata/calculate',
    tag: 'Refunds',
    summary: 'Preview a refund: eligibility, reason codes, amount and breakdown (no side effect)',
    ...ACCESS.subscriberOrAdmin,
    body: CalculateBody,
    success: { status: 200, description: 'the refund a request made now would get', schema: RefundCalculationSchema },
    errors: [404, 422],
  }),
  getEligibility: route({
    method: 'get',
    path: '/api/refunds/pro-rata/eligibility/:subscriptionId',
    tag: 'Refunds',
    summary: 'Whether the subscription can be refunded now, with reason codes',
    ...ACCESS.subscriberOrAdmin,
    params: SubscriptionIdParams,
    success: { status: 200, description: 'eligibility, reasons and the amount', schema: RefundCalculationSchema },
    errors: [404, 422],
  }),
  listUserRefunds: route({
    method: 'get',
    path: '/api/refunds/pro-rata/user/:userId',
    tag: 'Refunds',
    summary: 'Refunds of a user, newest first',
    ...ACCESS.listedUserOrAdmin,
    params: UserIdParams,
    query: ListQuery,
    success: { status: 200, description: 'one page of refunds', schema: RefundPageSchema },
    errors: [],
  }),
  listCreatorRefunds: route({
    method: 'get',
    path: '/api/refunds/pro-rata/creator/:creatorId',
    tag: 'Refunds',
    summary: 'Refunds against a creator\'s subscriptions, newest first, filterable by status',
    ...ACCESS.listedCreatorOrAdmin,
    params: CreatorIdParams,
    query: ListQuery,
    success: { status: 200, description: 'one page of refunds', schema: RefundPageSchema },
    errors: [],
  }),
  listPendingRefunds: route({
    method: 'get',
    path: '/api/refunds/pro-rata/pending/all',
    tag: 'Refunds',
    summary: 'Refunds awaiting approval, oldest first',
    ...ACCESS.admin,
    query: PendingListQuery,
    success: { status: 200, description: 'one page of pending refunds', schema: RefundPageSchema },
    errors: [],
  }),
  getStatistics: route({
    method: 'get',
    path: '/api/refunds/pro-rata/statistics',
    tag: 'Refunds',
    summary: 'Counts by status, completed totals per token, processing time, success rate, sweep info',
    ...ACCESS.admin,
    success: { status: 200, description: 'refund statistics', schema: StatisticsSchema },
    errors: [],
  }),
  triggerSweep: route({
    method: 'post',
    path: '/api/refunds/pro-rata/trigger',
    tag: 'Refunds',
    summary: 'Run the periodic sweep now (triggers the Temporal Schedule)',
    ...ACCESS.admin,
    success: { status: 202, description: 'the sweep was started', schema: TriggerSchema },
    errors: [],
  }),
  searchRefunds: route({
    method: 'get',
    path: '/api/refunds/pro-rata/search',
    tag: 'Refunds',
    summary: 'Find refunds by refund id, subscription id, user or creator id, or payout transaction hash',
    description: 'The shape of `q` decides where it is looked up: `rf_…` a refund id, 24 hex characters a subscription (or user or creator) id, `0x` and 64 hex characters a transaction hash (any payout attempt, replaced ones included), anything else a user or creator id.',
    ...ACCESS.admin,
    query: SearchQuery,
    success: { status: 200, description: 'the matching refunds', schema: RefundSearchSchema },
    errors: [],
  }),
  pauseSweep: route({
    method: 'post',
    path: '/api/refunds/pro-rata/sweep/pause',
    tag: 'Refunds',
    summary: 'Pause the scheduled sweeps, saying why (a trigger still runs one)',
    description: 'The note, with the admin\'s id, becomes the schedule\'s note; a pause survives deploys and worker restarts.',
    ...ACCESS.admin,
    body: PauseSweepBody,
    success: { status: 200, description: 'the sweep schedule after the change', schema: SweepStatusSchema },
    errors: [],
  }),
  unpauseSweep: route({
    method: 'post',
    path: '/api/refunds/pro-rata/sweep/unpause',
    tag: 'Refunds',
    summary: 'Resume the scheduled sweeps',
    ...ACCESS.admin,
    body: UnpauseSweepBody,
    success: { status: 200, description: 'the sweep schedule after the change', schema: SweepStatusSchema },
    errors: [],
  }),
  requestRefund: route({
    method: 'post',
    path: '/api/refunds/pro-rata',
    tag: 'Refunds',
    summary: 'Request a pro-rata refund: starts the refund workflow',
    description: 'Answers once the refund is recorded, pending approval. Concurrent identical requests start exactly one refund; the others get 409 with its id.',
    ...ACCESS.subscriber,
    body: CreateRefundBody,
    success: { status: 202, description: 'the refund, pending approval', schema: RefundSchema, headers: { Location: 'the refund\'s URL, /api/refunds/pro-rata/{refundId}' } },
    errors: [404, 409, 422],
    links: REFUND_OPERATIONS,
  }),
  getRefund: route({
    method: 'get',
    path: '/api/refunds/pro-rata/:refundId',
    tag: 'Refunds',
    summary: 'A refund\'s current state (live from its workflow while it runs)',
    ...ACCESS.refundPartyOrAdmin,
    params: RefundIdParams,
    success: { status: 200, description: 'the refund', schema: RefundSchema },
    errors: [404],
    links: REFUND_OPERATIONS.filter((operationId) => operationId !== 'getRefund'),
  }),
  approveRefund: route({
    method: 'post',
    path: '/api/refunds/pro-rata/:refundId/approve',
    tag: 'Refunds',
    summary: 'Approve a pending refund now; the payout follows',
    ...ACCESS.admin,
    params: RefundIdParams,
    body: ApproveBody,
    success: { status: 200, description: 'the refund after the decision', schema: RefundSchema },
    errors: [400, 404, 409],
  }),
  rejectRefund: route({
    method: 'post',
    path: '/api/refunds/pro-rata/:refundId/reject',
    tag: 'Refunds',
    summary: 'Reject a pending refund, with a reason',
    ...ACCESS.admin,
    params: RefundIdParams,
    body: RejectBody,
    success: { status: 200, description: 'the refund after the decision', schema: RefundSchema },
    errors: [400, 404, 409],
  }),
  cancelRefund: route({
    method: 'post',
    path: '/api/refunds/pro-rata/:refundId/cancel',
    tag: 'Refunds',
    summary: 'Withdraw a refund request while it is pending',
    ...ACCESS.refundUser,
    params: RefundIdParams,
    body: CancelBody,
    success: { status: 200, description: 'the refund after the decision', schema: RefundSchema },
    errors: [404, 409],
  }),
  retryRefund: route({
    method: 'post',
    path: '/api/refunds/pro-rata/:refundId/retry',
    tag: 'Refunds',
    summary: 'Retry the payout of a refund that failed for good',
    ...ACCESS.admin,
    params: RefundIdParams,
    body: RetryBody,
    success: { status: 200, description: 'the refund, processing again', schema: RefundSchema },
    errors: [400, 404, 409],
  }),
  getStatus: route({
    method: 'get',
    path: '/api/status',
    tag: 'Operations',
    summary: 'Health: Temporal and MongoDB reachability, sweep schedule, refund counts',
    description: '200 when Temporal and MongoDB are both reachable, 503 (same body) otherwise.',
    ...ACCESS.anyone,
    success: { status: 200, description: 'healthy (503 with the same shape when degraded)', schema: HealthSchema },
    errors: [],
  }),
  getConsoleSettings: route({
    method: 'get',
    path: '/api/admin/console-settings',
    tag: 'Operations',
    summary: 'What the admin console (/admin) needs: who is signed in, where the Temporal Web UI and the block explorer are',
    description: 'The console calls it first, so it also tells whether a token is an admin\'s.',
    ...ACCESS.admin,
    success: { status: 200, description: 'the console settings', schema: ConsoleSettingsSchema },
    errors: [],
  }),
  getMetrics: route({
    method: 'get',
    path: '/metrics',
    tag: 'Operations',
    summary: 'Prometheus metrics',
    ...ACCESS.anyone,
    success: { status: 200, description: 'Prometheus text exposition format', contentType: 'text/plain' },
    errors: [],
  }),
  getOpenApi: route({
    method: 'get',
    path: '/api/docs/openapi.json',
    tag: 'Operations',
    summary: 'This OpenAPI 3.1 document',
    ...ACCESS.anyone,
    success: { status: 200, description: 'the OpenAPI document' },
    errors: [],
  }),
} as const satisfies Record<string, RouteSpec>;

export type OperationId = keyof typeof ROUTES;

type Parsed<S, K extends 'params' | 'query' | 'body'> = S extends { [P in K]: infer Schema extends z.ZodType } ? z.output<Schema> : undefined;
type ResponseBody<S> = S extends { success: { schema: infer Schema extends z.ZodType } } ? z.input<Schema> : unknown;

export interface HandlerInput<S extends RouteSpec> {
  params: Parsed<S, 'params'>;
  query: Parsed<S, 'query'>;
  body: Parsed<S, 'body'>;
  caller: S['access'] extends 'public' ? undefined : Caller;
  /** What the route's ownership rule judged, loaded once by the router (src/api/access.ts); undefined without a rule. */
  subject: S extends { ownership: OwnershipRule<infer Subject> } ? Subject : undefined;
  requestId: string;
  /** The request's Idempotency-Key, when it sent one (POSTs). */
  idempotencyKey?: string;
}

/** What a handler answers: the body, and a status when it differs from the route's success status. */
export interface Reply<Body = unknown> {
  status?: number;
  body: Body;
  headers?: Record<string, string>;
}

export type Handler<S extends RouteSpec> = (input: HandlerInput<S>, services: ApiServices) => Promise<Reply<ResponseBody<S>>>;
export type Handlers = { [K in OperationId]: Handler<(typeof ROUTES)[K]> };
