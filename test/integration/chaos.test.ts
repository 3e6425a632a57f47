import { within } from '../../src/api/within';
import { describeResult, runCampaign, SMALL_CAMPAIGN } from '../chaos/campaign';

/**
 * The fault campaign of `npm run chaos`, small: 10 refunds through the API and
 * the real processes while workers are killed with SIGKILL (some right after a
 * broadcast), the store and Temporal crash and restart, the chain RPC freezes
 * and answers errors, and the receivers fail. Nothing may be lost or paid twice.
 */
describe('fault campaign (small)', () => {
  test('nothing lost, nothing paid twice, the API never answers 500 and recovers by itself', async () => {
    const lines: string[] = [];
    // Before jest's own timeout, which would say nothing of where the campaign was.
    const result = await within(runCampaign({ ...SMALL_CAMPAIGN, log: (line) => lines.push(line) }), 840_000, 'the campaign').catch((error: Error) => {
      throw new Error(`${error.message}; its log so far:\n${lines.slice(-60).join('\n')}`);
    });
    const passed = describeResult(result, (line) => lines.push(line));
    expect({ losses: result.losses, log: passed ? [] : lines.slice(-40) }).toEqual({ losses: [], log: [] });

    const injected = new Set(result.faults.map((fault) => fault.what));
    expect([...injected].sort()).toEqual(
      [
        'kill -9 a worker',
        'kill -9 a worker right after a broadcast',
        'kill -9 the store, restart it',
        'kill -9 the Temporal server, restart it',
        'the chain RPC frozen (SIGSTOP), then SIGCONT',
        'the chain RPC answering errors',
        'email and webhook receivers answering 500',
      ].sort(),
    );
    expect(result.differences).toEqual([]);
    expect(result.notifications.delivered).toBe(result.notifications.expected);
    expect(result.api.recovered).toBe(true);
  }, 900_000);
});
