/**
 * Funds the treasury has promised but the chain has not settled: every open
 * round whose nonce is not mined yet may still take its value and its gas at
 * the highest max fee it was signed with. Mined rounds are already in the
 * balance, so they do not count twice.
 */
export interface OpenRound {
  nonce: number | null;
  reservedWei: string;
  tokenAddress: string | null;
  reservedTokens: string;
}

export interface Committed {
  wei: bigint;
  tokens: Map<string, bigint>;
  payouts: number;
}

export function committedFunds(open: readonly OpenRound[], minedNonceCount: number): Committed {
  const committed: Committed = { wei: 0n, tokens: new Map(), payouts: 0 };
  for (const round of open) {
    if (round.nonce !== null && round.nonce < minedNonceCount) continue;
    committed.payouts += 1;
    committed.wei += BigInt(round.reservedWei);
    if (round.tokenAddress) {
      const token = round.tokenAddress.toLowerCase();
      committed.tokens.set(token, (committed.tokens.get(token) ?? 0n) + BigInt(round.reservedTokens));
    }
  }
  return committed;
}
