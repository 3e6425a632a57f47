import { Worker } from '@temporalio/worker';
import fs from 'node:fs';
import path from 'node:path';
import { HISTORY_FIXTURES_DIR } from '../support/history-fixtures';
import { workflowBundle } from '../support/refund-stack';

/**
 * Refunds live for days (waiting for approval or a retry). Every saved history
 * must replay on the current workflow code: a change that would make running
 * refunds fail non-deterministically needs `patched()` (see docs/RUNBOOK.md §1.4).
 */
const fixtures = fs.readdirSync(HISTORY_FIXTURES_DIR).filter((file) => file.endsWith('.json'));

describe('replaying saved refund histories on the current workflow code', () => {
  test('there are saved histories to replay', () => {
    expect(fixtures).toEqual(expect.arrayContaining(['approved-and-paid.json', 'auto-approved.json', 'failed-then-retried.json', 'rejected.json', 'cancelled.json']));
  });

  test.each(fixtures)('%s replays without non-determinism', async (file) => {
    const history = JSON.parse(fs.readFileSync(path.join(HISTORY_FIXTURES_DIR, file), 'utf8'));
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, `replay-${file}`);
  });
});
