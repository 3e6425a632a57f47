import { z } from 'zod';
import { INELIGIBILITY_REASONS } from '../domain/eligibility';
import { REFUND_STATUSES } from '../domain/refund-status';
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
const principalId = z.string().min(1).max(256);
const integerString = z.string().regex(/^(0|[1-9][0-9]*)$/).meta({ description: 'integer amount in the token\'s smallest unit (wei for ETH)', example: '666666666666666666' });
const isoTime = z.string().meta({ format: 'date-time' });
const note = z.string().trim().max(1000);

export const refundStatus = z.enum(REFUND_STATUSES).meta({ description: 'pending_approval → approved → processing → completed; or rejected, cancelled; failed until retried' });
const ineligibilityReason = z.enum(Object.keys(INELIGIBILITY_REASONS) as [keyof typeof INELIGIBILITY_REASONS, ...(keyof typeof INELIGIBILITY_REASONS)[]]);

// --- requests --------------------------------------------------------------

export const SubscriptionIdParams = z.object({ subscriptionId: objectId });
export const RefundIdParams = z.object({ refundId });
export const UserIdParams = z.object({ userId: principalId });
export const CreatorIdParams = z.object({ creatorId: principalId });

const limit = z.coerce.number().int().min(1).max(100).default(20).meta({ description: 'page size, 1 to 100' });
const cursor = z.string().min(1).max(512).optional().meta({ description: 'nextCursor of the previous page' });
export const ListQuery = z.object({ limit, cursor, status: refundStatus.optional() });
export const PendingListQuery = z.object({ limit, cursor });

export const CalculateBody = z.object({ subscriptionId: objectId }).register(components, { id: 'CalculateRequest' });
export const CreateRefundBody = z
  .object({ subscriptionId: objectId, reason: note.nullish().meta({ description: 'why the subscriber asks (free text)' }) })
  .register(components, { id: 'CreateRefundRequest' });
export const ApproveBody = z.object({ note: note.optional() }).register(components, { id: 'ApproveRequest' });
export const RejectBody = z.object({ reason: note.min(1, 'a rejection needs a reason') }).register(components, { id: 'RejectRequest' });
export const CancelBody = z.object({}).register(components, { id: 'CancelRequest' });
export const RetryBody = z.object({ note: note.optional() }).register(components, { id: 'RetryRequest' });

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

export const TriggerSchema = z.object({ triggered: z.literal(true), scheduleId: z.string() }).register(components, { id: 'SweepTriggered' });

export const HealthSchema = z
  .object({
    status: z.enum(['ok', 'degraded']),
    checkedAt: isoTime,
    uptimeSeconds: z.number(),
    temporal: z.object({ reachable: z.boolean(), address: z.string(), namespace: z.string(), taskQueue: z.string() }),
    mongo: z.object({ reachable: z.boolean() }),
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
