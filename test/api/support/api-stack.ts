import { createApp } from '../../../src/api/app';
import { mintToken, type Role } from '../../../src/api/auth';
import type { ApiDeps } from '../../../src/api/context';
import { TreasuryMonitor } from '../../../src/payout/treasury-monitor';
import { testLogger } from '../../support/logging';
import { startRefundStack, sweepControlOf, type RefundStackOptions } from '../../support/refund-stack';
import { apiClient, listen } from './http';

/**
 * One refund stack (real worker, Mongo, Temporal, anvil) with the HTTP API in
 * front of it on a real port. `app()` builds further apps on the same stack
 * with some dependencies swapped (a broken Mongo, an unreachable Temporal).
 */
export async function startApiStack(options: RefundStackOptions = {}) {
  const stack = await startRefundStack(options);
  const logger = testLogger();
  const sweep = sweepControlOf(stack);
  const treasury = new TreasuryMonitor({
    provider: stack.treasury.provider,
    chainId: stack.treasury.chainId,
    ledger: stack.ledger,
    store: stack.treasuryStore,
    lowBalance: stack.config.payoutLimits.lowBalance,
    ttlMs: 0,
  });
  const baseDeps: ApiDeps = { config: stack.config, logger, mongo: stack.mongo, refundClient: stack.refundClient, sweep, treasury };
  const servers: { close(): Promise<void> }[] = [];

  async function app(overrides: Partial<ApiDeps> = {}) {
    const server = await listen(createApp({ ...baseDeps, ...overrides }));
    servers.push(server);
    return { url: server.url, request: apiClient(server.url) };
  }

  const main = await app();
  return {
    ...stack,
    stack,
    sweep,
    treasuryMonitor: treasury,
    deps: baseDeps,
    url: main.url,
    request: main.request,
    app,
    /** A valid token for `sub` with `role` (ttl in seconds, or like "1h"; negative = already expired). */
    token(sub: string, role: Role, ttl: number | string = '1h') {
      return mintToken(stack.config.auth.jwtSecret, { sub, role }, ttl);
    },
    /**
     * Terminates the sweep runs this file triggered (nothing polls their task queue here), then deletes the
     * schedule. Left running, each run keeps one of the server's schedule watchers busy for a minute,
     * which starves other test files' schedules.
     */
    async removeSweepSchedule() {
      const handle = stack.client.schedule.getHandle(sweep.scheduleId);
      const description = await handle.describe().catch(() => null);
      if (!description) return;
      const runs = [...description.info.runningActions, ...description.info.recentActions.map((result) => result.action)];
      await Promise.all(runs.map(({ workflow }) => stack.client.workflow.getHandle(workflow.workflowId).terminate('test cleanup').catch(() => undefined)));
      await handle.delete().catch(() => undefined);
    },
    async close() {
      await Promise.all(servers.map((server) => server.close()));
      await stack.close();
    },
  };
}

export type ApiStack = Awaited<ReturnType<typeof startApiStack>>;
