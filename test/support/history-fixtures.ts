import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import fs from 'node:fs';
import path from 'node:path';
import type { RefundRunRef, RefundWorkflowClient } from '../../src/temporal/refund-client';

/**
 * Histories of refunds run on the current workflow code, replayed by
 * test/integration/workflow-replay.test.ts against every later version, so a
 * change that would break refunds already in flight fails CI. Regenerate with
 * `UPDATE_HISTORY_FIXTURES=1 npm test -- test/integration/refund-workflow` only
 * when adding a scenario; never to make a failing replay pass.
 */
export const HISTORY_FIXTURES_DIR = path.resolve(__dirname, '..', 'fixtures', 'histories');

export async function saveHistoryFixture(name: string, client: RefundWorkflowClient, ref: RefundRunRef): Promise<void> {
  if (process.env.UPDATE_HISTORY_FIXTURES !== '1') return;
  const history = await client.handle(ref.subscriptionId, ref.runId).fetchHistory();
  fs.mkdirSync(HISTORY_FIXTURES_DIR, { recursive: true });
  fs.writeFileSync(path.join(HISTORY_FIXTURES_DIR, `${name}.json`), historyToJSON(history));
}
