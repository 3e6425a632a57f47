import { parseAmount } from './amount';
import { ADDRESS_PATTERN, parseCurrency, type Currency } from './currency';
import { DomainError } from './errors';

export const SUBSCRIPTION_STATUSES = ['active', 'cancelled', 'expired'] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];

/** A subscription as the money rules see it: validated, with `bigint` money and real dates. */
export interface Subscription {
  id: string;
  userId: string;
  creatorId: string;
  userWalletAddress: string;
  userEmail?: string;
  amountPaid: bigint;
  currency: Currency;
  startDate: Date;
  endDate: Date;
  status: SubscriptionStatus;
  cancelledAt?: Date;
  refundEligible: boolean;
  refundWindowDays: number;
  isRefundApplied: boolean;
}

/** Defaults the migration backfills; a document read before migrating is treated the same way. */
export const SUBSCRIPTION_REFUND_DEFAULTS = { refundEligible: true, refundWindowDays: 30, isRefundApplied: false } as const;

export const OBJECT_ID_PATTERN = /^[0-9a-f]{24}$/;

/**
 * Validates a raw `subscriptions` document (as read from MongoDB or inserted by
 * another system). Any malformed field is a DomainError naming the field.
 */
export function parseSubscription(doc: unknown): Subscription {
  if (typeof doc !== 'object' || doc === null) throw invalid('document', 'must be an object');
  const raw = doc as Record<string, unknown>;
  const startDate = parseDate(raw.startDate, 'startDate');
  const endDate = parseDate(raw.endDate, 'endDate');
  if (endDate.getTime() <= startDate.getTime()) throw invalid('endDate', 'must be after startDate');

  const status = raw.status;
  if (!SUBSCRIPTION_STATUSES.includes(status as SubscriptionStatus)) throw invalid('status', `must be one of ${SUBSCRIPTION_STATUSES.join(', ')}`);

  const wallet = raw.userWalletAddress;
  if (typeof wallet !== 'string' || !ADDRESS_PATTERN.test(wallet)) throw invalid('userWalletAddress', 'must be a 0x-prefixed 20-byte hex address');

  const refundWindowDays = raw.refundWindowDays ?? SUBSCRIPTION_REFUND_DEFAULTS.refundWindowDays;
  if (typeof refundWindowDays !== 'number' || !Number.isFinite(refundWindowDays) || refundWindowDays < 0) {
    throw invalid('refundWindowDays', 'must be a non-negative number');
  }

  let amountPaid: bigint;
  let currency: Currency;
  try {
    amountPaid = parseAmount(raw.amountPaid, 'amountPaid');
    currency = parseCurrency(raw.currency);
  } catch (error) {
    if (error instanceof DomainError) throw new DomainError('INVALID_SUBSCRIPTION', `subscription ${error.message}`, { cause: error.code });
    throw error;
  }

  return {
    id: parseId(raw._id),
    userId: requireString(raw.userId, 'userId'),
    creatorId: requireString(raw.creatorId, 'creatorId'),
    userWalletAddress: wallet,
    userEmail: optionalString(raw.userEmail, 'userEmail'),
    amountPaid,
    currency,
    startDate,
    endDate,
    status: status as SubscriptionStatus,
    cancelledAt: raw.cancelledAt == null ? undefined : parseDate(raw.cancelledAt, 'cancelledAt'),
    refundEligible: optionalBoolean(raw.refundEligible, 'refundEligible', SUBSCRIPTION_REFUND_DEFAULTS.refundEligible),
    refundWindowDays,
    isRefundApplied: optionalBoolean(raw.isRefundApplied, 'isRefundApplied', SUBSCRIPTION_REFUND_DEFAULTS.isRefundApplied),
  };
}

function invalid(field: string, rule: string): DomainError {
  return new DomainError('INVALID_SUBSCRIPTION', `subscription ${field} ${rule}`, { field });
}

function parseId(value: unknown): string {
  const hex = typeof value === 'string' ? value : (value as { toHexString?: () => string } | null)?.toHexString?.();
  if (typeof hex !== 'string' || !OBJECT_ID_PATTERN.test(hex)) throw invalid('_id', 'must be an ObjectId');
  return hex;
}

/** ISO 8601 date-times; the offset is optional (without one the time is UTC), and a space may stand for the T. */
const ISO_DATE_TIME = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?))?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * A Date, or an ISO 8601 string. JavaScript reads an offset-less date-time as
 * the server's local time; here it is UTC, so the API and every worker read
 * the same instant whatever their time zone.
 */
function parseDate(value: unknown, field: string): Date {
  let date: Date | undefined;
  if (value instanceof Date) date = value;
  else if (typeof value === 'string') {
    const match = ISO_DATE_TIME.exec(value.trim());
    if (!match) throw invalid(field, 'must be a date or an ISO 8601 date-time');
    const [, day, time, offset] = match;
    date = new Date(`${day}T${time ?? '00:00'}${offset ?? 'Z'}`);
  }
  if (!date || Number.isNaN(date.getTime())) throw invalid(field, 'must be a date');
  return date;
}

function requireString(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid(field, 'must be a non-empty string');
  return value;
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw invalid(field, 'must be a string');
  return value;
}

function optionalBoolean(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw invalid(field, 'must be a boolean');
  return value;
}
