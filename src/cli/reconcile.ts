import { expectedChainId } from '../chain/network';
import { connectProvider, payoutSettings } from '../chain/treasury';
import { loadConfigOrExit } from '../config';
import { connectMongo } from '../persistence/mongo';
import { PayoutLedger } from '../persistence/payout-ledger';
import { TreasuryStore } from '../persistence/treasury-store';
import { reconcile, type ReconcileReport } from '../reconcile/reconcile';
import { connectClient } from '../temporal/connection';
import { RefundWorkflowClient, refundPolicySettings } from '../temporal/refund-client';
import { parseCommandLine, parseOrUsage, UsageError } from './smoke';

const USAGE = 'usage: npm run reconcile [-- --since <ISO date>] [--from-block N] [--to-block N] [--json]';

/**
 * `npm run reconcile`: record = workflow = chain for every refund (or those
 * requested since a date), and every outgoing transaction of the treasury
 * accounted for by the payout ledger. Prints a summary and the differences
 * with what to do; exit code 1 on any difference. Reads only.
 */
export async function run(args: string[]): Promise<number> {
  const options = parseOrUsage(() => parseReconcileArgs(args), USAGE);
  if (typeof options === 'number') return options;
  const config = loadConfigOrExit('cli');
  const chainId = expectedChainId(config.chain.network);
  const [mongo, client] = await Promise.all([connectMongo(config.db.uri), connectClient(config.temporal)]);
  const provider = connectProvider(config.chain.providerUrl, chainId);
  try {
    const account = await new TreasuryStore(mongo).account(chainId);
    const report = await reconcile(
      {
        mongo,
        ledger: new PayoutLedger(mongo),
        refundClient: new RefundWorkflowClient(client, refundPolicySettings(config)),
        provider,
        chainId,
        confirmations: payoutSettings(config.chain, chainId).confirmations,
        treasury: account?.address ?? null,
      },
      { ...options, progress: options.json ? undefined : (line) => console.error(`[reconcile] ${line}`) },
    );
    console.log(options.json ? JSON.stringify(report, null, 2) : describe(report).join('\n'));
    return report.differences.length === 0 ? 0 : 1;
  } finally {
    provider.destroy();
    await Promise.allSettled([mongo.close(), client.connection.close()]);
  }
}

export function parseReconcileArgs(args: string[]): { since?: Date; fromBlock?: number; toBlock?: number; json: boolean } {
  const { values } = parseCommandLine(args, { since: { type: 'string' }, 'from-block': { type: 'string' }, 'to-block': { type: 'string' }, json: { type: 'boolean' } });
  const since = values.since === undefined ? undefined : new Date(String(values.since));
  if (since && Number.isNaN(since.getTime())) throw new UsageError(`--since: "${String(values.since)}" is not a date`);
  const block = (name: 'from-block' | 'to-block') => {
    const value = values[name];
    if (value === undefined) return undefined;
    if (!/^\d+$/.test(String(value))) throw new UsageError(`--${name}: "${String(value)}" is not a block number`);
    return Number(value);
  };
  return { since, fromBlock: block('from-block'), toBlock: block('to-block'), json: Boolean(values.json) };
}

export function describe(report: ReconcileReport): string[] {
  const statuses = Object.entries(report.refunds.byStatus).map(([status, count]) => `${status} ${count}`).join(', ');
  const lines = [
    `refunds checked    ${report.refunds.checked}${statuses ? ` (${statuses})` : ''}; ${report.refunds.withWorkflow} compared with their workflow`,
    `chain              ${report.chainId}, finality depth ${report.confirmations}`,
    report.outflows
      ? `treasury outflows  ${report.outflows.transactions} transaction(s) from ${report.outflows.wallets.join(', ')} in blocks ${report.outflows.fromBlock}..${report.outflows.toBlock}, ${report.outflows.unknown} not signed by this service, ${report.outflows.internal.length} plain transfer(s) between treasury wallets not signed by it (listed below)`
      : 'treasury outflows  not checked: no worker has announced the treasury wallet yet, and the ledger has signed nothing',
    `differences        ${report.differences.length}`,
  ];
  for (const transfer of report.outflows?.internal ?? []) {
    lines.push(`  between treasury wallets: ${transfer.txHash} (block ${transfer.block}) ${transfer.valueWei} wei from ${transfer.from} to ${transfer.to}, gas ${transfer.feeWei} wei`);
  }
  for (const difference of report.differences) {
    const subject = [difference.refundId, difference.txHash].filter(Boolean).join(' ');
    lines.push('', `- ${difference.kind}${subject ? ` (${subject})` : ''}: ${difference.detail}`, `  do: ${difference.action}`);
  }
  return lines;
}

