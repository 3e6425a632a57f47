import type { Breakdown, Currency } from './format.js';

/** The API's answers as the console reads them (src/api/schemas.ts is their source; fields the console does not show are left out). */

export interface StatusChange {
  status: string;
  at: string;
  by: string;
  note?: string;
}

export interface Payout {
  chainId: number;
  from: string;
  to: string;
  nonce: number;
  txHash: string;
  blockNumber: number | null;
  confirmations: number | null;
  attempt: number;
}

export interface NotificationFailure {
  eventId: string;
  channel: string;
  recipient: string;
  error: string;
  at: string;
}

export interface Refund {
  refundId: string;
  subscriptionId: string;
  userId: string;
  creatorId: string;
  workflowId: string;
  refundStatus: string;
  amount: string;
  amountFormatted: string;
  currency: Currency;
  breakdown: Breakdown;
  reason: string | null;
  requestedAt: string;
  requestedBy: string;
  autoApproveAt: string;
  decidedBy: string | null;
  decidedAt: string | null;
  decisionNote: string | null;
  transactionId: string | null;
  payout: Payout | null;
  completedAt: string | null;
  failureReason: string | null;
  /** false when a failed payout must not be retried (absent: retry allowed). */
  retryable?: boolean;
  statusHistory: StatusChange[];
  notificationFailures: NotificationFailure[];
}

export interface RefundPage {
  items: Refund[];
  nextCursor: string | null;
}

export interface RefundSearch {
  query: string;
  searchedBy: string[];
  items: Refund[];
}

export interface SweepRun {
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  found: number;
  started: number;
  skipped: number;
  reconciled: number;
  errors: number;
  errorSamples: string[];
}

export interface SweepStatus {
  scheduleId: string;
  intervalMs: number;
  paused: boolean | null;
  note: string | null;
  nextRunAt: string | null;
  lastRun: SweepRun | null;
  error?: string;
}

export interface Statistics {
  byStatus: Record<string, number>;
  pendingCount: number;
  oldestPendingAgeMs: number | null;
  sweep: SweepStatus;
}

export interface TreasuryBalance {
  currency: Currency;
  amount: string;
  amountFormatted: string;
  lowBalanceThreshold: string | null;
  low: boolean;
}

/** /api/status; `chain` and `treasury` are newer: a server without them shows "unknown". */
export interface Health {
  status: string;
  checkedAt: string;
  temporal: { reachable: boolean; namespace: string; taskQueue: string };
  mongo: { reachable: boolean };
  chain?: { reachable: boolean; chainId: number; blockNumber: number | null };
  treasury?: {
    address: string | null;
    balances: TreasuryBalance[];
    payoutsInFlight: number;
    oldestUnconfirmedAgeMs: number | null;
    nonceGap: boolean;
    stuckPayouts: number;
    alerts: { type: string; message: string; since: string }[];
    observedAt: string;
  };
}

export interface ConsoleSettings {
  caller: { sub: string; role: string };
  temporal: { namespace: string; webUiUrl: string | null };
  chain: { network: string; chainId: number | null; explorerUrl: string | null };
  autoApproveDays: number;
}
