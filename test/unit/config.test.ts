import { payoutSettings } from '../../src/chain/treasury';
import { ConfigError, loadConfig } from '../../src/config';

const productionSecrets = {
  NODE_ENV: 'production',
  AUTH_JWT_SECRET: 'a-real-production-jwt-secret-of-40-chars!!',
  TREASURY_PRIVATE_KEY: `0x${'ab'.repeat(32)}`,
  ADMIN_WEBHOOK_SECRET: 'a-real-webhook-secret',
};

function problems(env: Record<string, string>, component?: 'api' | 'worker' | 'cli'): string[] {
  try {
    loadConfig(env, component);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

describe('configuration', () => {
  test('defaults are the documented ones', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 5000,
      db: { uri: 'mongodb://127.0.0.1:27017/web3db' },
      refunds: { scheduleIntervalMs: 3_600_000, autoApproveDays: 14, penaltyBps: 0 },
      logLevel: 'info',
      email: { financeCopyTo: 'finance@example.com' },
      temporal: { address: '127.0.0.1:7233', namespace: 'default' },
    });
  });

  test('fractional auto-approve days are allowed, so tests can use seconds', () => {
    expect(loadConfig({ PRO_RATA_REFUND_AUTO_APPROVE_DAYS: '0.0001' }).refunds.autoApproveDays).toBe(0.0001);
  });

  test('a bad value names the variable, and a secret value is never echoed', () => {
    const found = problems({ PORT: 'eighty', TREASURY_PRIVATE_KEY: 'secret-but-malformed', PRO_RATA_REFUND_PENALTY_BPS: '10001' });
    expect(found.join('\n')).toMatch(/PORT/);
    expect(found.join('\n')).toMatch(/TREASURY_PRIVATE_KEY/);
    expect(found.join('\n')).toMatch(/PRO_RATA_REFUND_PENALTY_BPS/);
    expect(found.join('\n')).not.toContain('secret-but-malformed');
  });

  test('production refuses the public development secrets each process uses, and only those', () => {
    expect(problems({ NODE_ENV: 'production' }, 'api')).toEqual([expect.stringMatching(/^AUTH_JWT_SECRET/)]);
    expect(problems({ NODE_ENV: 'production' }, 'worker').map((problem) => problem.split(':')[0]).sort()).toEqual(['ADMIN_WEBHOOK_SECRET', 'TREASURY_PRIVATE_KEY']);
    expect(problems(productionSecrets, 'cli')).toEqual([]);
    expect(problems({ NODE_ENV: 'development' }, 'worker')).toEqual([]);
  });

  test('a client certificate without its key (or the reverse) is refused', () => {
    expect(problems({ TEMPORAL_TLS_CERT_PATH: '/etc/temporal/client.pem' }).join()).toMatch(/TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH go together/);
    expect(loadConfig({ TEMPORAL_TLS_CERT_PATH: '/c.pem', TEMPORAL_TLS_KEY_PATH: '/c.key' }).temporal.tls).toBe(true);
  });

  test('CORS origins are a trimmed list', () => {
    expect(loadConfig({ CORS_ORIGINS: ' https://a.example , https://b.example,' }).corsOrigins).toEqual(['https://a.example', 'https://b.example']);
  });

  test('payout safety settings: fees in wei or gwei, per-currency limits, network defaults when unset', () => {
    const config = loadConfig({ PAYOUT_MAX_FEE_PER_GAS: '30 gwei', PAYOUT_DAILY_LIMIT: 'ETH=1.5, usdc=2500', PAYOUT_CONFIRMATIONS: '' });
    expect(config.chain.maxFeePerGas).toBe(30_000_000_000n);
    expect(config.chain.confirmations).toBeUndefined();
    expect(config.payoutLimits.dailyLimit).toEqual([{ key: 'ETH', amount: '1.5' }, { key: 'USDC', amount: '2500' }]);
    expect(loadConfig({ PAYOUT_MAX_FEE_PER_GAS: '123' }).chain.maxFeePerGas).toBe(123n);
    expect(payoutSettings(loadConfig({}).chain, 31337)).toMatchObject({ confirmations: 1, stuckAfterMs: 15_000, feeBumpPercent: 20 });
    expect(payoutSettings(loadConfig({}).chain, 1)).toMatchObject({ confirmations: 12, stuckAfterMs: 180_000, maxFeePerGasWei: 500_000_000_000n });
    expect(payoutSettings(loadConfig({ PAYOUT_CONFIRMATIONS: '3' }).chain, 1).confirmations).toBe(3);
  });

  test('a malformed payout setting names its variable', () => {
    const found = problems({ PAYOUT_MAX_FEE_PER_GAS: 'cheap', TREASURY_LOW_BALANCE: 'ETH', PAYOUT_FEE_BUMP_PERCENT: '5', PAYOUT_CONFIRMATIONS: '0' }).join('\n');
    for (const name of ['PAYOUT_MAX_FEE_PER_GAS', 'TREASURY_LOW_BALANCE', 'PAYOUT_FEE_BUMP_PERCENT', 'PAYOUT_CONFIRMATIONS']) expect(found).toMatch(name);
  });
});
