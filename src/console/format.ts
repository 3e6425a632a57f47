/**
 * The admin console's own logic, free of the DOM so unit tests import it
 * (test/unit/console-format.test.ts): money as the API sends it (integer
 * strings in the smallest unit) formatted exactly with bigint, times and
 * countdowns, the refund breakdown as a calculation, and the API's errors in
 * words. No imports: the browser loads this file as it is compiled.
 */

export interface Currency {
  symbol: string;
  decimals: number;
  tokenAddress: string | null;
}

// ---- money -------------------------------------------------------------------

const INTEGER = /^(0|[1-9][0-9]*)$/;

/**
 * "1500000000000000000" with 18 decimals is "1.5"; "1234567890" with 6 is "1,234.56789".
 * Exact: the digits are moved, never divided in floating point. Trailing zeros of the
 * fraction are dropped, thousands of the whole part grouped with commas.
 */
export function formatUnits(amount: string, decimals: number): string {
  if (!INTEGER.test(amount)) throw new RangeError(`not an integer amount: "${amount}"`);
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 36) throw new RangeError(`decimals must be 0 to 36, got ${decimals}`);
  const digits = amount.padStart(decimals + 1, '0');
  const whole = digits.slice(0, digits.length - decimals);
  const fraction = digits.slice(digits.length - decimals).replace(/0+$/, '');
  return fraction ? `${groupThousands(whole)}.${fraction}` : groupThousands(whole);
}

/** "0.5 ETH"; an amount the API should never send shows as such instead of breaking the page. */
export function formatMoney(amount: string, currency: Currency): string {
  try {
    return `${formatUnits(amount, currency.decimals)} ${currency.symbol}`;
  } catch {
    return `${amount} (unreadable amount) ${currency.symbol}`;
  }
}

export function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** 0x1234…abcd: enough to recognise an address or hash, short enough for a table cell. */
export function shortHex(value: string, head = 6, tail = 4): string {
  return value.length > head + tail + 1 ? `${value.slice(0, head)}…${value.slice(-tail)}` : value;
}

// ---- time --------------------------------------------------------------------

const UNITS: [string, number][] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['min', 60_000],
  ['s', 1000],
];

/** The two largest units of a duration: "2 d 3 h", "4 min 5 s", "0 s". Rounds down, so a countdown never shows more time than is left. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.floor(ms));
  const first = UNITS.findIndex(([, size]) => total >= size);
  if (first === -1) return '0 s';
  const [unit, size] = UNITS[first]!;
  const count = Math.floor(total / size);
  const next = UNITS[first + 1];
  const rest = next ? Math.floor((total - count * size) / next[1]) : 0;
  return rest > 0 ? `${count} ${unit} ${rest} ${next![0]}` : `${count} ${unit}`;
}

/** How long something took: milliseconds below a second, else as formatDuration. */
export function formatElapsed(ms: number): string {
  return ms < 1000 ? `${Math.max(0, Math.round(ms))} ms` : formatDuration(ms);
}

export interface Countdown {
  /** "in 2 d 3 h", or "due now" once the deadline has passed. */
  text: string;
  overdue: boolean;
  msLeft: number;
}

/**
 * Time left until the auto-approval timer fires. Once it has passed the refund
 * is approved by the workflow within moments; until the list refreshes, say so
 * rather than show a negative time.
 */
export function countdown(deadline: string, now: number): Countdown {
  const msLeft = Date.parse(deadline) - now;
  if (Number.isNaN(msLeft)) return { text: 'unknown', overdue: false, msLeft: NaN };
  if (msLeft <= 0) return { text: 'due now', overdue: true, msLeft };
  return { text: `in ${formatDuration(msLeft)}`, overdue: false, msLeft };
}

/** How long ago: "3 h 4 min". */
export function age(since: string, now: number): string {
  const ms = now - Date.parse(since);
  return Number.isNaN(ms) ? 'unknown' : formatDuration(ms);
}

/** "2024-03-01 12:00:05 UTC": one unambiguous zone for everyone who reads a refund. */
export function formatInstant(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

// ---- the breakdown -------------------------------------------------------------

export interface Breakdown {
  formula: string;
  amountPaid: string;
  currency: Currency;
  startDate: string;
  endDate: string;
  requestedAt: string;
  cancelledAt: string | null;
  effectiveCancelAt: string;
  totalSeconds: number;
  remainingSeconds: number;
  proRataAmount: string;
  penaltyBps: number;
  penaltyAmount: string;
  amount: string;
  retained: string;
}

export interface CalculationRow {
  label: string;
  value: string;
  /** How the value follows from the rows above, or where it comes from. */
  detail: string;
}

/** The refund's breakdown as a finance person checks it: inputs first, then each step with its arithmetic. */
export function breakdownRows(breakdown: Breakdown): CalculationRow[] {
  const money = (amount: string) => formatMoney(amount, breakdown.currency);
  const seconds = (count: number) => `${groupThousands(String(count))} s`;
  const countedFrom = breakdown.cancelledAt ? 'the cancellation' : 'the request (the subscription was not cancelled)';
  const penalty =
    breakdown.penaltyBps > 0
      ? { value: `− ${money(breakdown.penaltyAmount)}`, detail: `${breakdown.penaltyBps} bps (${percent(BigInt(breakdown.penaltyBps), 10_000n)}) of the pro-rata amount, rounded down` }
      : { value: money('0'), detail: 'no penalty configured' };
  return [
    { label: 'Paid', value: money(breakdown.amountPaid), detail: `${groupThousands(breakdown.amountPaid)} in the smallest unit (${breakdown.currency.decimals} decimals)` },
    { label: 'Period', value: `${formatInstant(breakdown.startDate)} → ${formatInstant(breakdown.endDate)}`, detail: `${seconds(breakdown.totalSeconds)} (${formatDuration(breakdown.totalSeconds * 1000)})` },
    { label: 'Counted from', value: formatInstant(breakdown.effectiveCancelAt), detail: countedFrom },
    {
      label: 'Remaining',
      value: `${seconds(breakdown.remainingSeconds)} of ${seconds(breakdown.totalSeconds)}`,
      detail: `${percent(BigInt(breakdown.remainingSeconds), BigInt(breakdown.totalSeconds))} of the period unused`,
    },
    {
      label: 'Pro-rata',
      value: money(breakdown.proRataAmount),
      detail: `${money(breakdown.amountPaid)} × ${seconds(breakdown.remainingSeconds)} ÷ ${seconds(breakdown.totalSeconds)}, rounded down to the smallest unit`,
    },
    { label: 'Penalty', ...penalty },
    { label: 'Refund', value: money(breakdown.amount), detail: 'pro-rata − penalty: what the subscriber receives' },
    { label: 'Retained', value: money(breakdown.retained), detail: 'paid − refund: what the creator keeps' },
  ];
}

/** part / whole as a percentage with two decimals, rounded down, in integers only. */
export function percent(part: bigint, whole: bigint): string {
  if (whole <= 0n) return '—';
  const hundredths = (part * 10_000n) / whole;
  return `${hundredths / 100n}.${String(hundredths % 100n).padStart(2, '0')} %`;
}

// ---- statuses, links -------------------------------------------------------------

export const STATUS_LABELS: Record<string, string> = {
  pending_approval: 'pending approval',
  approved: 'approved',
  processing: 'processing',
  completed: 'completed',
  rejected: 'rejected',
  cancelled: 'cancelled',
  failed: 'failed',
};

export function statusLabel(status: string): string {
  return STATUS_LABELS[status] ?? status;
}

export function isFinal(status: string): boolean {
  return status === 'completed' || status === 'rejected' || status === 'cancelled';
}

/** A transaction on the network's public explorer; null where the network has none (a local chain). */
export function explorerTxUrl(explorerUrl: string | null, txHash: string): string | null {
  return explorerUrl ? `${explorerUrl.replace(/\/+$/, '')}/tx/${txHash}` : null;
}

/** The refund's workflow in the Temporal Web UI: the list of its runs, filtered by workflow id. */
export function temporalWorkflowUrl(webUiUrl: string | null, namespace: string, workflowId: string): string | null {
  if (!webUiUrl) return null;
  const query = encodeURIComponent(`WorkflowId = '${workflowId}'`);
  return `${webUiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows?query=${query}`;
}

// ---- tokens and errors ---------------------------------------------------------------

export interface TokenClaims {
  sub?: string;
  role?: string;
  exp?: number;
}

/** The claims of a JWT, read without verifying it: only to word messages. The API alone decides what a token may do. */
export function readTokenClaims(token: string): TokenClaims | null {
  const payload = token.trim().split('.')[1];
  if (!payload) return null;
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(payload.length / 4) * 4, '=');
    const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
    return claims && typeof claims === 'object' ? (claims as TokenClaims) : null;
  } catch {
    return null;
  }
}

/** What the API answered when it did not do what was asked. `status` 0: the API was not reached. */
export interface ApiFailure {
  status: number;
  code?: string;
  message?: string;
  details?: unknown;
}

/** Why a token was refused, in words an admin can act on. */
export function explainSignInFailure(failure: ApiFailure, claims: TokenClaims | null, now: number): string {
  switch (failure.code) {
    case 'TOKEN_EXPIRED': {
      const when = claims?.exp ? ` at ${formatInstant(new Date(claims.exp * 1000).toISOString())} (${age(new Date(claims.exp * 1000).toISOString(), now)} ago)` : '';
      return `This token expired${when}. Mint a new admin token and sign in again.`;
    }
    case 'FORBIDDEN':
      return `This token belongs to ${claims?.role ? `a ${claims.role}` : 'someone'}${claims?.sub ? ` ("${claims.sub}")` : ''}, not an admin: the console needs a token with role admin.`;
    case 'INVALID_TOKEN':
      return `This API does not accept this token (${failure.message ?? 'invalid'}). Check that it was minted with this deployment's AUTH_JWT_SECRET and pasted whole.`;
    case 'UNAUTHENTICATED':
      return 'Paste a token first.';
    default:
      return explainFailure(failure);
  }
}

export type Action = 'approve' | 'reject' | 'retry' | 'trigger' | 'pause' | 'unpause' | 'load';

/** The API's answer to a failed request, in words; 409s say what happened instead. */
export function explainFailure(failure: ApiFailure, action: Action = 'load'): string {
  const status = detailField(failure.details, 'refundStatus');
  switch (failure.code) {
    case 'REFUND_NOT_PENDING':
      return `Already decided: this refund is ${status ? statusLabel(status) : 'no longer pending'}. Someone else, or the auto-approval timer, decided before your ${action} reached it; nothing was changed.`;
    case 'REFUND_NOT_FAILED':
      return `Not retried: the refund is ${status ? statusLabel(status) : 'not failed'}. Only a payout that failed for good can be retried; nothing was changed.`;
    case 'REFUND_NOT_READY':
      return 'The refund is still being recorded. Try again in a moment.';
    case 'IDEMPOTENCY_IN_PROGRESS':
      return 'Your earlier click is still being processed. Wait for its answer before trying again.';
    case 'VALIDATION_ERROR':
    case 'INVALID_DECISION':
      return `The API refused the input: ${failure.message ?? 'invalid'}.`;
    case 'TEMPORAL_UNAVAILABLE':
      return 'Temporal, or every worker, cannot be reached right now: nothing was done. Try again shortly.';
    case 'MONGO_UNAVAILABLE':
      return 'The database cannot be reached right now: nothing was done. Try again shortly.';
    case 'SWEEP_SCHEDULE_MISSING':
      return 'The sweep schedule does not exist yet: it is created when a worker starts.';
    case 'REFUND_NOT_FOUND':
      return 'No refund has this id.';
    case 'FORBIDDEN':
      return 'Your token does not allow this.';
    case 'TOKEN_EXPIRED':
      return 'Your token has expired: sign in again.';
  }
  if (failure.status === 0) return 'The API cannot be reached: check your connection. Nothing is known to have changed.';
  return `The API answered ${failure.status}${failure.code ? ` ${failure.code}` : ''}: ${failure.message ?? 'no explanation given'}.`;
}

function detailField(details: unknown, field: string): string | undefined {
  if (!details || typeof details !== 'object') return undefined;
  const value = (details as Record<string, unknown>)[field];
  return typeof value === 'string' ? value : undefined;
}
