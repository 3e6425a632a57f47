import { closeSentry, flushSentry, initSentry, reportError } from '../../src/observability/sentry';
import { startHttpReceiver, type HttpReceiver } from '../support/http-receiver';
import { startRefundStack, type RefundStack } from '../support/refund-stack';

describe('Sentry reporting when SENTRY_DSN is set', () => {
  let sentry: HttpReceiver;
  let stack: RefundStack;

  beforeAll(async () => {
    sentry = await startHttpReceiver();
    const port = new URL(sentry.url).port;
    // Inside jest the SDK cannot register its module-loader hooks (for span integrations the service does not use) and
    // warns; that warning, and only that one, is expected here.
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      initSentry({ sentryDsn: `http://publickey@127.0.0.1:${port}/42`, nodeEnv: 'test' }, 'worker');
      expect(warn.mock.calls.filter((args) => !/^\[Sentry\] Failed to register diagnostics-channel injection hooks \(Error: module\.register\(\) is not supported in Jest/.test(String(args[0])))).toEqual([]);
    } finally {
      warn.mockRestore();
    }
    stack = await startRefundStack();
  }, 120_000);
  afterAll(async () => {
    await closeSentry();
    await stack?.close();
    await sentry?.close();
  });

  test('an error reported by the service arrives as a Sentry envelope', async () => {
    reportError(new Error('ledger unreachable during test'), { refundId: 'rf_test' });
    await flushSentry();
    const envelope = await sentry.waitFor((request) => request.path === '/api/42/envelope/' && request.body.includes('ledger unreachable during test'));
    expect(envelope.body).toContain('rf_test');
  });

  test('a payout that fails for good is reported by the worker', async () => {
    const subscription = await stack.insertSubscription({ userWalletAddress: '0x0000000000000000000000000000000000000000' });
    const started = await stack.refundClient.start({ subscriptionId: subscription.subscriptionId, requestedBy: 'user-1' });
    if (started.kind !== 'started') throw new Error('not started');
    await stack.refundClient.approve({ subscriptionId: subscription.subscriptionId, runId: started.runId }, { by: 'admin-1' });
    const envelope = await sentry.waitFor((request) => request.body.includes('InvalidAddress') && request.body.includes('preparePayout'), 20_000);
    expect(envelope.body).toContain('zero address');
    await stack.refundClient.handle(subscription.subscriptionId, started.runId).terminate('test cleanup');
  });
});
