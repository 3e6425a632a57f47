import { z } from 'zod';
import { parseCurrencyLimits } from '../domain/currency-limits';

/**
 * Every environment variable the service reads, with its documented names and
 * defaults. This schema is the single source for validation, `.env.example`,
 * the README table and the docker-compose consistency test.
 */

const DEV_TREASURY_PRIVATE_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'; // anvil account #0
const DEV_JWT_SECRET = 'dev-only-jwt-secret-change-me-0123456789abcdef';
const DEV_WEBHOOK_SECRET = 'dev-only-webhook-secret-change-me';

const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === '' ? undefined : value));

const booleanString = z
  .enum(['true', 'false', '1', '0', ''])
  .optional()
  .transform((value) => value === 'true' || value === '1');

const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** An integer, or nothing: for settings whose default depends on the network. */
const optionalInteger = (min: number, max: number) =>
  z.preprocess((value) => (typeof value === 'string' && value.trim() === '' ? undefined : value), z.coerce.number().int().min(min).max(max).optional());

/** `SYMBOL=amount,...` in whole units of each currency (see src/domain/currency-limits.ts). */
const currencyLimits = optionalString.superRefine((value, ctx) => {
  try {
    parseCurrencyLimits(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
  }
});

/** Wei per gas, written as an integer number of wei or as `<n> gwei`. */
const feePerGas = optionalString.superRefine((value, ctx) => {
  if (value !== undefined && !/^\s*\d+(\.\d+)?\s*gwei\s*$/i.test(value) && !/^\d+$/.test(value.trim())) {
    ctx.addIssue({ code: 'custom', message: 'must be an integer number of wei or "<n> gwei"' });
  }
});

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: integer(1, 65535).default(5000),
  DB_URI: z.string().regex(/^mongodb(\+srv)?:\/\//, 'must be a mongodb:// or mongodb+srv:// URI').default('mongodb://127.0.0.1:27017/web3db'),

  PRO_RATA_REFUND_SCHEDULE_INTERVAL: integer(1000, 31 * 24 * 3600 * 1000).default(3_600_000),
  PRO_RATA_REFUND_AUTO_APPROVE_DAYS: z.coerce.number().positive().max(3650).default(14),
  PRO_RATA_REFUND_PENALTY_BPS: integer(0, 10_000).default(0),

  BLOCKCHAIN_PROVIDER_URL: z.url({ protocol: /^(https?|wss?)$/ }).default('http://127.0.0.1:8545'),
  BLOCKCHAIN_NETWORK: z.string().min(1).default('anvil'),
  TREASURY_PRIVATE_KEY: z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 0x-prefixed 32-byte hex key').default(DEV_TREASURY_PRIVATE_KEY),
  PAYOUT_CONFIRMATIONS: optionalInteger(1, 1000),
  // Below the confirm activity's 15-minute start-to-close timeout (workflows/refund-workflow.ts).
  PAYOUT_CONFIRMATION_TIMEOUT_MS: integer(1000, 14 * 60 * 1000).default(600_000),
  PAYOUT_STUCK_AFTER_MS: optionalInteger(1000, 24 * 3600 * 1000),
  PAYOUT_FEE_BUMP_PERCENT: integer(10, 1000).default(20),
  PAYOUT_MAX_FEE_PER_GAS: feePerGas,
  PAYOUT_MAX_AMOUNT: currencyLimits,
  PAYOUT_DAILY_LIMIT: currencyLimits,
  TREASURY_LOW_BALANCE: currencyLimits,

  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SENTRY_DSN: optionalString.pipe(z.url().optional()),

  SENDGRID_API_KEY: optionalString,
  SENDGRID_API_URL: z.url().default('https://api.sendgrid.com'),
  EMAIL_FROM: z.email().default('refunds@example.com'),
  REFUND_NOTIFICATION_EMAIL: z.email().default('finance@example.com'),

  ADMIN_WEBHOOK_URL: optionalString.pipe(z.url().optional()),
  ADMIN_WEBHOOK_SECRET: z.string().min(16).default(DEV_WEBHOOK_SECRET),

  AUTH_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').default(DEV_JWT_SECRET),
  CORS_ORIGINS: z.string().default(''),

  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('prorata-refunds'),
  TEMPORAL_TLS: booleanString,
  TEMPORAL_TLS_CERT_PATH: optionalString,
  TEMPORAL_TLS_KEY_PATH: optionalString,
  TEMPORAL_TLS_SERVER_NAME: optionalString,
  TEMPORAL_API_KEY: optionalString,
  TEMPORAL_WEB_UI_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),

  WORKER_MAX_CACHED_WORKFLOWS: integer(0, 100_000).default(200),
  WORKER_SHUTDOWN_GRACE_MS: integer(0, 3_600_000).default(30_000),
  WORKER_METRICS_PORT: integer(0, 65535).default(9464),
}).refine((env) => Boolean(env.TEMPORAL_TLS_CERT_PATH) === Boolean(env.TEMPORAL_TLS_KEY_PATH), {
  message: 'TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH go together: set both for mTLS, or neither',
  path: ['TEMPORAL_TLS_CERT_PATH'],
});

export type EnvInput = z.input<typeof envSchema>;
export type Env = z.output<typeof envSchema>;

/** Variables whose values must never reach a log line or an error message. */
export const SECRET_VARIABLES = [
  'DB_URI',
  'TREASURY_PRIVATE_KEY',
  'SENDGRID_API_KEY',
  'ADMIN_WEBHOOK_SECRET',
  'AUTH_JWT_SECRET',
  'TEMPORAL_API_KEY',
  'SENTRY_DSN',
] as const satisfies readonly (keyof Env)[];

/** Development defaults that production must replace: a real deployment cannot run on them. */
export const DEV_ONLY_DEFAULTS: Partial<Record<keyof Env, string>> = {
  TREASURY_PRIVATE_KEY: DEV_TREASURY_PRIVATE_KEY,
  AUTH_JWT_SECRET: DEV_JWT_SECRET,
  ADMIN_WEBHOOK_SECRET: DEV_WEBHOOK_SECRET,
};

export const ENV_DESCRIPTIONS: Record<keyof Env, string> = {
  NODE_ENV: 'development, production or test; production refuses the development-only secrets',
  PORT: 'HTTP port of the API',
  DB_URI: 'MongoDB connection string (local default: the FerretDB started by `npm run dev`)',
  PRO_RATA_REFUND_SCHEDULE_INTERVAL: 'milliseconds between sweeps of the Temporal Schedule',
  PRO_RATA_REFUND_AUTO_APPROVE_DAYS: 'days a refund waits for an admin before it is approved automatically (fractional allowed)',
  PRO_RATA_REFUND_PENALTY_BPS: 'penalty in basis points taken off the pro-rata amount (0-10000)',
  BLOCKCHAIN_PROVIDER_URL: 'JSON-RPC endpoint of the chain payouts are sent on',
  BLOCKCHAIN_NETWORK: 'network name (mainnet, sepolia, anvil, ...) or chain id; checked against the provider at start',
  TREASURY_PRIVATE_KEY: 'private key of the wallet refunds are paid from',
  PAYOUT_CONFIRMATIONS: 'blocks a payout must be buried under before it is believed (default per network: 1 on anvil, 12 on mainnet; see docs/PAYOUTS.md)',
  PAYOUT_CONFIRMATION_TIMEOUT_MS: 'how long one run of the payout watcher lasts before it starts afresh (it never gives up on a broadcast payout)',
  PAYOUT_STUCK_AFTER_MS: 'a payout not mined after this long is replaced at the same nonce with higher fees (default per network)',
  PAYOUT_FEE_BUMP_PERCENT: 'how much each replacement raises both fee fields, in percent (at least 10, the nodes\' minimum)',
  PAYOUT_MAX_FEE_PER_GAS: 'highest max fee per gas a payout may offer, in wei or "<n> gwei" (default per network); at the cap a stuck payout alerts and waits',
  PAYOUT_MAX_AMOUNT: 'per-currency amount above which a refund is never approved automatically, e.g. ETH=5,USDC=2500',
  PAYOUT_DAILY_LIMIT: 'per-currency total a rolling 24 hours of payouts may reach; beyond it payouts wait and alert, e.g. ETH=50',
  TREASURY_LOW_BALANCE: 'per-currency treasury balance under which a treasury.low_balance alert is raised, e.g. ETH=2,USDC=1000',
  LOG_LEVEL: 'pino log level',
  SENTRY_DSN: 'Sentry DSN; errors are reported when set',
  SENDGRID_API_KEY: 'SendGrid API key; without it emails are logged instead of sent',
  SENDGRID_API_URL: 'SendGrid base URL (tests point it at a local receiver)',
  EMAIL_FROM: 'sender address of refund emails',
  REFUND_NOTIFICATION_EMAIL: 'finance mailbox that receives a copy of every refund email',
  ADMIN_WEBHOOK_URL: 'URL that receives signed refund events; none are sent when unset',
  ADMIN_WEBHOOK_SECRET: 'HMAC-SHA256 key of the X-Refund-Signature header',
  AUTH_JWT_SECRET: 'HS256 key of the API bearer tokens (at least 32 characters)',
  CORS_ORIGINS: 'comma-separated origins allowed by CORS; empty disables CORS',
  TEMPORAL_ADDRESS: 'Temporal frontend host:port',
  TEMPORAL_NAMESPACE: 'Temporal namespace',
  TEMPORAL_TASK_QUEUE: 'task queue shared by the API and all workers',
  TEMPORAL_TLS: 'true to connect to Temporal over TLS (implied by a client certificate or API key)',
  TEMPORAL_TLS_CERT_PATH: 'client certificate for mTLS (Temporal Cloud)',
  TEMPORAL_TLS_KEY_PATH: 'client key for mTLS (Temporal Cloud)',
  TEMPORAL_TLS_SERVER_NAME: 'TLS server name override',
  TEMPORAL_API_KEY: 'Temporal Cloud API key',
  TEMPORAL_WEB_UI_URL: 'base URL of the Temporal Web UI as admins\' browsers reach it (e.g. http://127.0.0.1:8233); the admin console links each refund to its workflow there; no links when unset',
  WORKER_MAX_CACHED_WORKFLOWS: 'workflows a worker keeps in memory (about 0.3 MB each; an evicted one is replayed from its history at its next step)',
  WORKER_SHUTDOWN_GRACE_MS: 'how long a stopping worker lets running activities finish',
  WORKER_METRICS_PORT: 'port of the worker\'s Prometheus endpoint for Temporal SDK metrics (0 disables); when another process holds it, the worker serves on the next free port and logs which',
};
