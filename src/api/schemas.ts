import { z } from 'zod';
import { INELIGIBILITY_REASONS } from '../domain/eligibility';
import { REFUND_STATUSES } from '../domain/refund-status';
import { CURSOR_PATTERN } from '../persistence/refund-repository';
import { ERROR_CODES } from './errors';

/**
 * The request and response shapes of the HTTP API, in zod: requests are
 * validated with them, and the OpenAPI document is generated from them
 * (src/api/openapi.ts). Schemas registered in `components` become
 * `#/components/schemas/<id>` in that document.
 */
export const components = z.registry<{ id: string; description?: string }>();

// --- building blocks -------------------------------------------------------

const objectId = z
  .string()
  .regex(/^[0-9a-fA-F]{24}$/, 'must be a 24-character hex ObjectId')
  .transform((id) => id.toLowerCase())
  .meta({ description: 'the subscription\'s _id as 24 hex characters', example: '65f1c0ffee0123456789abcd' });

/** rf_ + 24 hex (refunds before the subscription id was embedded) or rf_ + 40 hex (subscription id + 16 random). */
export const REFUND_ID_PATTERN = /^rf_[0-9a-f]{24}(?:[0-9a-f]{16})?$/;
const refundId = z
  .string()
  .regex(REFUND_ID_PATTERN, 'must look like rf_ followed by 24 or 40 hex characters')
  .meta({ example: 'rf_65f0c0ffee0123456789abcd0123456789abcdef' });
/**
 * Text the API stores or looks up may hold any character but NUL: PostgreSQL (under the embedded
 * store) cannot keep U+0000 in a document, so a NUL would fail the write or lookup after the
 * request was accepted.
 */
const NO_NUL = /^[^\u0000]*$/;
const text = (max: number) => z.string().max(max).regex(NO_NUL, 'must not contain a NUL character (U+0000)');
const principalId = text(256).min(1);
const integerString = z.string().regex(/^(0|[1-9][0-9]*)$/).meta({ description: 'integer amount in the token\'s smallest unit (wei for ETH)', example: '666666666666666666' });
const isoTime = z.string().meta({ format: 'date-time' });
const note = text(1000).trim(); // the limit is on what is sent, as the document states it
/**
 * Not blank: some character that JavaScript's trim() keeps. The whitespace is
 * spelled out because regex engines disagree on `\s` (Python's includes
 * U+001C-U+001F), and the document's readers must refuse what the server refuses.
 */
const NOT_BLANK = /[^\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]/;

export const refundStatus = z.enum(REFUND_STATUSES).meta({ description: 'pending_approval → approved → processing → completed; or rejected, cancelled; failed until retried' });
const ineligibilityReason = z.enum(Object.keys(INELIGIBILITY_REASONS) as [keyof typeof INELIGIBILITY_REASONS, ...(keyof typeof INELIGIBILITY_REASONS)[]]);

// --- requests --------------------------------------------------------------

export const SubscriptionIdParams = z.object({ subscriptionId: objectId });
export const RefundIdParams = z.object({ refundId });
export const UserIdParams = z.object({ userId: principalId });
export const CreatorIdParams = z.object({ creatorId: principalId });

const limit = z.coerce.number().int().min(1).max(100).default(20).meta({ description: 'page size, 1 to 100' });
const cursor = z
  .string()
  .regex(CURSOR_PATTERN, 'must be a nextCursor of this API: <milliseconds>.<refund id>')
  .optional()
  .meta({ description: 'nextCursor of the previous page. Its format, `<createdAt in ms>.<refundId>`, is a position in the list: any such value is accepted' });
export const ListQuery = z.object({ limit, cursor, status: refundStatus.optional() });
export const PendingListQuery = z.object({ limit, cursor });

export const CalculateBody = z.object({ subscriptionId: objectId }).register(components, { id: 'CalculateRequest' });
export const CreateRefundBody = z
  .object({ subscriptionId: objectId, reason: note.nullish().meta({ description: 'why the subscriber asks (free text)' }) })
  .register(components, { id: 'CreateRefundRequest' });
export const ApproveBody = z.object({ note: note.optional() }).register(components, { id: 'ApproveRequest' });
export const RejectBody = z.object({ reason: text(1000).regex(NOT_BLANK, 'a rejection needs a reason').trim() }).register(components, { id: 'RejectRequest' });
export const CancelBody = z.object({}).register(components, { id: 'CancelRequest' });
export const RetryBody = z.object({ note: note.optional() }).register(components, { id: 'RetryRequest' });
export const SearchQuery = z.object({
  q: text(256).regex(NOT_BLANK, 'type what to search for').trim().meta({ description: 'a refund id, subscription id, user or creator id, or payout transaction hash' }),
});
export const PauseSweepBody = z.object({ note: text(1000).regex(NOT_BLANK, 'say why the sweep is paused').trim() }).register(components, { id: 'PauseSweepRequest' });
export const UnpauseSweepBody = z.object({ note: note.optional() }).register(components, { id: 'UnpauseSweepRequest' });

// --- responses ---------------------------------------------------------------

export const CurrencySchema = z
  .object({ symbol: z.string(), decimals: z.number().int(), tokenAddress: z.string().nullable().meta({ description: 'null for the native coin, else the ERC-20 contract' }) })
  .register(components, { id: 'Currency' });

export const BreakdownSchema = z
  .object({
    formula: z.string(),
    amountPaid: integerString,
    currency: CurrencySchema,
    startDate: isoTime,
    endDate: isoTime,
    requestedAt: isoTime,
    cancelledAt: isoTime.nullable(),
    effectiveCancelAt: isoTime,
    totalSeconds: z.number().int(),
    remainingSeconds: z.number().int(),
    proRataAmount: integerString,
    penaltyBps: z.number().int(),
    penaltyAmount: integerString,
    amount: integerString,
    retained: integerString,
    computedAt: isoTime,
  })
  .register(components, { id: 'RefundBreakdown', description: 'every input and intermediate of the computation' });

const StatusChangeSchema = z
  .object({ status: refundStatus, at: isoTime, by: z.string().meta({ description: 'user or admin id, "auto" for the approval timer, "system"' }), note: z.string().optional() })
  .register(components, { id: 'StatusChange' });

const PayoutSchema = z
  .object({
    chainId: z.number().int(),
    from: z.string(),
    to: z.string(),
    nonce: z.number().int(),
    txHash: z.string(),
    blockNumber: z.number().int().nullable(),
    confirmations: z.number().int().nullable(),
    attempt: z.number().int(),
  })
  .register(components, { id: 'Payout' });

const NotificationFailureSchema = z
  .object({ eventId: z.string(), channel: z.enum(['email', 'webhook']), recipient: z.string(), error: z.string(), at: isoTime })
  .register(components, { id: 'NotificationFailure' });

export const RefundSchema = z
  .object({
    refundId,
    subscriptionId: z.string(),
    userId: z.string(),
    creatorId: z.string(),
    workflowId: z.string(),
    refundStatus,
    amount: integerString,
    amountFormatted: z.string().meta({ example: '0.666666666666666666' }),
    currency: CurrencySchema,
    breakdown: BreakdownSchema,
    reason: z.string().nullable(),
    requestedAt: isoTime,
    requestedBy: z.string(),
    autoApproveAt: isoTime,
    decidedBy: z.string().nullable().meta({ description: 'the admin id, or "auto"' }),
    decidedAt: isoTime.nullable(),
    decisionNote: z.string().nullable(),
    transactionId: z.string().nullable().meta({ description: 'hash of the payout transaction once broadcast' }),
    payout: PayoutSchema.nullable(),
    completedAt: isoTime.nullable(),
    failureReason: z.string().nullable(),
    failureCode: z.string().nullable().meta({ description: 'while failed: why (InsufficientFunds, PayoutReverted, PayoutAmountMismatch, ...; see docs/PAYOUTS.md)' }),
    retryable: z.boolean().nullable().meta({ description: 'while failed: whether POST /retry may try again (false when money may have moved)' }),
    waitingReason: z.string().nullable().meta({ description: 'why the refund waits: an amount above PAYOUT_MAX_AMOUNT (no auto-approval), PAYOUT_DAILY_LIMIT reached' }),
    statusHistory: z.array(StatusChangeSchema),
    notificationFailures: z.array(NotificationFailureSchema),
    processingTimeMs: z.number().nullable(),
  })
  .register(components, { id: 'Refund' });

export const RefundCalculationSchema = z
  .object({
    subscriptionId: z.string(),
    eligible: z.boolean(),
    reasons: z.array(ineligibilityReason),
    amount: integerString,
    amountFormatted: z.string(),
    currency: CurrencySchema,
    breakdown: BreakdownSchema,
    existingRefund: z.object({ refundId, refundStatus }).nullable(),
  })
  .register(components, { id: 'RefundCalculation', description: 'what a refund requested now would pay, and whether it may be requested' });

export const RefundPageSchema = z
  .object({ items: z.array(RefundSchema), nextCursor: z.string().nullable().meta({ description: 'pass as ?cursor= for the next page; null on the last page' }) })
  .register(components, { id: 'RefundPage' });

export const SweepRunSchema = z
  .looseObject({
    _id: z.string(),
    startedAt: isoTime,
    finishedAt: isoTime,
    durationMs: z.number(),
    found: z.number().int(),
    started: z.number().int(),
    skipped: z.number().int(),
    reconciled: z.number().int(),
    errors: z.number().int(),
    errorSamples: z.array(z.string()),
  })
  .register(components, { id: 'SweepRun', description: 'the latest sweepruns document: what one sweep found and did' });

export const SweepStatusSchema = z
  .object({
    scheduleId: z.string(),
    intervalMs: z.number(),
    paused: z.boolean().nullable(),
    note: z.string().nullable(),
    nextRunAt: isoTime.nullable(),
    lastRun: SweepRunSchema.nullable(),
    error: z.string().optional(),
  })
  .register(components, { id: 'SweepStatus' });

const countsByStatus = z.object(Object.fromEntries(REFUND_STATUSES.map((status) => [status, z.number().int()])) as Record<(typeof REFUND_STATUSES)[number], z.ZodNumber>);

export const StatisticsSchema = z
  .object({
    byStatus: countsByStatus,
    totals: z.array(z.object({ currency: CurrencySchema, amount: integerString, amountFormatted: z.string(), count: z.number().int() })).meta({
      description: 'completed refunds per token, summed exactly',
    }),
    avgProcessingTime: z.number().nullable().meta({ description: 'mean milliseconds from request to completion' }),
    successRate: z.number().nullable().meta({ description: 'completed / (completed + failed); null before any' }),
    pendingCount: z.number().int(),
    oldestPendingAgeMs: z.number().nullable(),
    sweep: SweepStatusSchema,
  })
  .register(components, { id: 'Statistics' });

export const SEARCH_FIELDS = ['refundId', 'subscriptionId', 'userId', 'creatorId', 'transactionHash'] as const;

export const RefundSearchSchema = z
  .object({
    query: z.string(),
    searchedBy: z.array(z.enum(SEARCH_FIELDS)).meta({ description: 'the fields the query was looked up in, chosen by its shape' }),
    items: z.array(RefundSchema).meta({ description: 'matching refunds, newest first, at most 20' }),
  })
  .register(components, { id: 'RefundSearch' });

export const ConsoleSettingsSchema = z
  .object({
    caller: z.object({ sub: z.string(), role: z.literal('admin') }),
    temporal: z.object({
      namespace: z.string(),
      webUiUrl: z.string().nullable().meta({ description: 'TEMPORAL_WEB_UI_URL: where a refund\'s workflow can be opened; null when not configured' }),
    }),
    chain: z.object({
      network: z.string(),
      chainId: z.number().int().nullable(),
      explorerUrl: z.string().nullable().meta({ description: 'block explorer of the payout network (transactions at <url>/tx/<hash>); null for local chains' }),
    }),
    autoApproveDays: z.number(),
  })
  .register(components, { id: 'ConsoleSettings', description: 'what the admin console needs to know about this deployment' });

export const TriggerSchema = z.object({ triggered: z.literal(true), scheduleId: z.string() }).register(components, { id: 'SweepTriggered' });

export const ChainStatusSchema = z
  .object({ reachable: z.boolean(), chainId: z.number().int(), blockNumber: z.number().int().nullable() })
  .register(components, { id: 'ChainStatus' });

export const TreasuryStatusSchema = z
  .object({
    address: z.string().nullable(),
    balances: z.array(
      z.object({
        currency: CurrencySchema,
        amount: integerString,
        amountFormatted: z.string(),
        lowBalanceThreshold: integerString.nullable(),
        low: z.boolean(),
      }),
    ),
    payoutsInFlight: z.number().int(),
    oldestUnconfirmedAgeMs: z.number().nullable(),
    nonceGap: z.boolean().meta({ description: 'a nonce the treasury signed is missing from the node for more than 30 s: later payouts wait behind it' }),
    stuckPayouts: z.number().int().meta({ description: 'payouts at PAYOUT_MAX_FEE_PER_GAS, unmined' }),
    alerts: z.array(z.object({ type: z.string(), message: z.string(), since: isoTime })),
    observedAt: isoTime,
  })
  .register(components, { id: 'TreasuryStatus' });

export const HealthSchema = z
  .object({
    status: z.enum(['ok', 'degraded']),
    checkedAt: isoTime,
    uptimeSeconds: z.number(),
    temporal: z.object({ reachable: z.boolean(), address: z.string(), namespace: z.string(), taskQueue: z.string() }),
    mongo: z.object({ reachable: z.boolean() }),
    chain: ChainStatusSchema.nullable().meta({ description: 'null when this API does not watch the chain' }),
    treasury: TreasuryStatusSchema.nullable().meta({ description: 'null until a worker has announced the treasury wallet, or when the store cannot be read' }),
    proRataRefunds: z.object({
      schedule: SweepStatusSchema,
      temporalReachable: z.boolean(),
      mongoReachable: z.boolean(),
      counts: countsByStatus.nullable(),
    }),
  })
  .register(components, { id: 'Health' });

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(ERROR_CODES) as [keyof typeof ERROR_CODES, ...(keyof typeof ERROR_CODES)[]]),
      message: z.string(),
      details: z.unknown().meta({ description: 'VALIDATION_ERROR: [{ path, message }]; NOT_ELIGIBLE: { reasons }; REFUND_EXISTS: { refundId }; REFUND_NOT_PENDING: { refundStatus }' }),
      requestId: z.string().optional(),
    }),
  })
  .register(components, { id: 'Error' });
