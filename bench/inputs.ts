import { MAX_UINT256 } from '../src/domain/amount';

/**
 * Subscription documents as they come out of MongoDB, from a seeded generator
 * (the same inputs every run): most pay ETH or USDC for 30, 90 or 365 days;
 * some amounts sit just under 2^256, the largest a token contract can hold.
 */

const DAY_MS = 24 * 60 * 60 * 1000;

export const REQUESTED_AT = new Date('2025-06-15T12:00:00.000Z');

export type AmountKind = 'eth' | 'usdc' | 'near2^256';

export const MIX: Readonly<Record<AmountKind, number>> = { eth: 0.6, usdc: 0.3, 'near2^256': 0.1 };

const CURRENCIES: Record<AmountKind, { symbol: string; decimals: number; tokenAddress: string | null }> = {
  eth: { symbol: 'ETH', decimals: 18, tokenAddress: null },
  usdc: { symbol: 'USDC', decimals: 6, tokenAddress: '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48' },
  'near2^256': { symbol: 'WHALE', decimals: 18, tokenAddress: '0x1111111111111111111111111111111111111111' },
};

/** mulberry32: small, fast, seeded. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function amountFor(kind: AmountKind, next: () => number): bigint {
  switch (kind) {
    case 'eth': // 0.001 to 10 ETH, in wei
      return 10n ** 15n + BigInt(Math.floor(next() * 1e7)) * 10n ** 12n + BigInt(Math.floor(next() * 1e12));
    case 'usdc': // 1 to 1 000 USDC, in micro-dollars
      return 1_000_000n + BigInt(Math.floor(next() * 999e6));
    case 'near2^256':
      return MAX_UINT256 - BigInt(Math.floor(next() * 1e9));
  }
}

function kindFor(roll: number, mix: Readonly<Record<AmountKind, number>>): AmountKind {
  let acc = 0;
  for (const [kind, share] of Object.entries(mix) as [AmountKind, number][]) {
    acc += share;
    if (roll < acc) return kind;
  }
  return 'eth';
}

/** `count` raw documents; `mix` picks the amount kinds (default MIX). */
export function subscriptionDocs(count: number, { seed = 42, mix = MIX }: { seed?: number; mix?: Readonly<Record<AmountKind, number>> } = {}): Record<string, unknown>[] {
  const next = random(seed);
  const docs: Record<string, unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const kind = kindFor(next(), mix);
    const periodDays = [30, 30, 30, 30, 30, 30, 30, 90, 90, 365][Math.floor(next() * 10)]!;
    const periodMs = periodDays * DAY_MS;
    // started between 0 and 90 % of the period ago, so every request falls inside it
    const startDate = new Date(REQUESTED_AT.getTime() - Math.floor(next() * 0.9 * periodMs));
    const cancelled = next() < 0.5;
    docs.push({
      _id: (i + 1).toString(16).padStart(24, '0'),
      userId: `user-${i % 5000}`,
      creatorId: `creator-${i % 300}`,
      userWalletAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
      userEmail: 'subscriber@example.com',
      amountPaid: amountFor(kind, next).toString(),
      currency: CURRENCIES[kind],
      startDate,
      endDate: new Date(startDate.getTime() + periodMs),
      status: cancelled ? 'cancelled' : 'active',
      cancelledAt: cancelled ? new Date(startDate.getTime() + Math.floor(next() * (REQUESTED_AT.getTime() - startDate.getTime()))) : undefined,
      refundEligible: true,
      refundWindowDays: 30,
      isRefundApplied: false,
    });
  }
  return docs;
}
