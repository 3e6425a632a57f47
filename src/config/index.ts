import fs from 'node:fs';
import path from 'node:path';
import { parseCurrencyLimits, type CurrencyLimit } from '../domain/currency-limits';
import { DEV_ONLY_DEFAULTS, envSchema, type Env } from './schema';

export { envSchema, ENV_DESCRIPTIONS, SECRET_VARIABLES, type Env } from './schema';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface Config {
  nodeEnv: Env['NODE_ENV'];
  port: number;
  db: { uri: string };
  refunds: {
    scheduleIntervalMs: number;
    autoApproveDays: number;
    penaltyBps: number;
  };
  chain: {
    providerUrl: string;
    network: string;
    treasuryPrivateKey: string;
    /** Unset: the network's default (src/chain/network.ts). */
    confirmations?: number;
    confirmationTimeoutMs: number;
    stuckAfterMs?: number;
    feeBumpPercent: number;
    /** Wei; unset: the network's default. */
    maxFeePerGas?: bigint;
  };
  payoutLimits: {
    maxAmount: CurrencyLimit[];
    dailyLimit: CurrencyLimit[];
    lowBalance: CurrencyLimit[];
  };
  logLevel: Env['LOG_LEVEL'];
  sentryDsn?: string;
  email: {
    sendgridApiKey?: string;
    sendgridApiUrl: string;
    from: string;
    financeCopyTo: string;
  };
  webhook: { url?: string; secret: string };
  auth: { jwtSecret: string };
  corsOrigins: string[];
  temporal: {
    address: string;
    namespace: string;
    taskQueue: string;
    tls: boolean;
    tlsCertPath?: string;
    tlsKeyPath?: string;
    tlsServerName?: string;
    apiKey?: string;
    /** Where admins' browsers open the Temporal Web UI (links from the admin console). */
    webUiUrl?: string;
  };
  worker: {
    maxCachedWorkflows: number;
    shutdownGraceMs: number;
    metricsPort: number;
  };
}

/** Which process loads the config: each refuses, in production, only the development secrets it uses. */
export type Component = 'api' | 'worker' | 'cli';

const SECRETS_USED_BY: Record<Component, (keyof Env)[]> = {
  api: ['AUTH_JWT_SECRET'],
  worker: ['TREASURY_PRIVATE_KEY', 'ADMIN_WEBHOOK_SECRET'],
  cli: ['AUTH_JWT_SECRET', 'TREASURY_PRIVATE_KEY', 'ADMIN_WEBHOOK_SECRET'],
};

/**
 * Validates the environment and shapes it into the one config object the code uses.
 * Messages name the variable and the rule, never the value (some are secrets).
 */
export function loadConfig(source: NodeJS.ProcessEnv = process.env, component: Component = 'cli'): Config {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  }
  const env = parsed.data;
  if (env.NODE_ENV === 'production') {
    const devDefaults = Object.entries(DEV_ONLY_DEFAULTS)
      .filter(([name, devValue]) => SECRETS_USED_BY[component].includes(name as keyof Env) && env[name as keyof Env] === devValue)
      .map(([name]) => `${name}: must be set in production (the development default is public)`);
    if (devDefaults.length > 0) throw new ConfigError(devDefaults);
  }
  return toConfig(env);
}

function toConfig(env: Env): Config {
  return {
    nodeEnv: env.NODE_ENV,
    port: env.PORT,
    db: { uri: env.DB_URI },
    refunds: {
      scheduleIntervalMs: env.PRO_RATA_REFUND_SCHEDULE_INTERVAL,
      autoApproveDays: env.PRO_RATA_REFUND_AUTO_APPROVE_DAYS,
      penaltyBps: env.PRO_RATA_REFUND_PENALTY_BPS,
    },
    chain: {
      providerUrl: env.BLOCKCHAIN_PROVIDER_URL,
      network: env.BLOCKCHAIN_NETWORK,
      treasuryPrivateKey: env.TREASURY_PRIVATE_KEY,
      confirmations: env.PAYOUT_CONFIRMATIONS,
      confirmationTimeoutMs: env.PAYOUT_CONFIRMATION_TIMEOUT_MS,
      stuckAfterMs: env.PAYOUT_STUCK_AFTER_MS,
      feeBumpPercent: env.PAYOUT_FEE_BUMP_PERCENT,
      maxFeePerGas: env.PAYOUT_MAX_FEE_PER_GAS === undefined ? undefined : weiPerGas(env.PAYOUT_MAX_FEE_PER_GAS),
    },
    payoutLimits: {
      maxAmount: parseCurrencyLimits(env.PAYOUT_MAX_AMOUNT),
      dailyLimit: parseCurrencyLimits(env.PAYOUT_DAILY_LIMIT),
      lowBalance: parseCurrencyLimits(env.TREASURY_LOW_BALANCE),
    },
    logLevel: env.LOG_LEVEL,
    sentryDsn: env.SENTRY_DSN,
    email: {
      sendgridApiKey: env.SENDGRID_API_KEY,
      sendgridApiUrl: env.SENDGRID_API_URL,
      from: env.EMAIL_FROM,
      financeCopyTo: env.REFUND_NOTIFICATION_EMAIL,
    },
    webhook: { url: env.ADMIN_WEBHOOK_URL, secret: env.ADMIN_WEBHOOK_SECRET },
    auth: { jwtSecret: env.AUTH_JWT_SECRET },
    corsOrigins: env.CORS_ORIGINS.split(',').map((origin) => origin.trim()).filter(Boolean),
    temporal: {
      address: env.TEMPORAL_ADDRESS,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      tls: env.TEMPORAL_TLS || Boolean(env.TEMPORAL_TLS_CERT_PATH || env.TEMPORAL_API_KEY),
      tlsCertPath: env.TEMPORAL_TLS_CERT_PATH,
      tlsKeyPath: env.TEMPORAL_TLS_KEY_PATH,
      tlsServerName: env.TEMPORAL_TLS_SERVER_NAME,
      apiKey: env.TEMPORAL_API_KEY,
      webUiUrl: env.TEMPORAL_WEB_UI_URL?.replace(/\/+$/, ''),
    },
    worker: {
      maxCachedWorkflows: env.WORKER_MAX_CACHED_WORKFLOWS,
      shutdownGraceMs: env.WORKER_SHUTDOWN_GRACE_MS,
      metricsPort: env.WORKER_METRICS_PORT,
    },
  };
}

/** "30 gwei" or "30000000000" (wei) -> wei. */
function weiPerGas(text: string): bigint {
  const gwei = /^\s*(\d+)(?:\.(\d+))?\s*gwei\s*$/i.exec(text);
  if (!gwei) return BigInt(text.trim());
  return BigInt(gwei[1]!) * 1_000_000_000n + BigInt((gwei[2] ?? '').slice(0, 9).padEnd(9, '0'));
}

/** Reads `.env` from the working directory into process.env; variables already set win. */
export function loadDotEnv(file = path.resolve(process.cwd(), '.env')): void {
  if (fs.existsSync(file)) process.loadEnvFile(file);
}

/** For entry points: load `.env`, validate, and stop the process with a readable message on bad config. */
export function loadConfigOrExit(component: Component = 'cli'): Config {
  loadDotEnv();
  try {
    return loadConfig(process.env, component);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
}
