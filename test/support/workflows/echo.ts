import { proxyActivities } from '@temporalio/workflow';

/** The smallest round trip: workflow -> activity -> result, proving worker, client and server are wired. */
export async function echoWorkflow(message: string): Promise<string> {
  const { shout } = proxyActivities<{ shout(message: string): Promise<string> }>({ startToCloseTimeout: '10s' });
  return shout(message);
}
