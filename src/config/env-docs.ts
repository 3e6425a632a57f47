import { ENV_DESCRIPTIONS, envSchema, type Env } from './schema';

/**
 * How each variable of the config schema is documented. The README table,
 * `.env.example` and the configuration reference are generated from this and
 * the schema (`npm run docs:config`; a test fails when they drift), so there is
 * one place to change a default or a description.
 */
interface EnvDoc {
  /** Heading of its block in `.env.example`. */
  group: string;
  /** Which processes use the value. */
  readBy: string;
  /** The reference's "production" column. */
  production?: string;
  /** The reference's longer meaning, when the one-line description is not enough. */
  details?: string;
  /** How the default is shown when it is not a literal (per network, a development-only secret). */
  shownDefault?: string;
  /** An extra comment line in `.env.example`, under the description. */
  exampleNote?: string;
}

const GROUPS = [
  'Existing variables',
  'Pro-Rata Refund Scheduler Configuration',
  'Refund Processing',
  'Blockchain Configuration',
  'Payout safety (defaults per network: docs/PAYOUTS.md)',
  'Logging',
  'Email Notifications',
  'Admin Settings (signed webhook)',
  'Auth / API',
  'Temporal',
  'Worker',
] as const;

const DEV_SECRET = 'development-only default: production refuses it (e.g. `openssl rand -hex 32`)';

export const ENV_DOCS: Record<keyof Env, EnvDoc & { group: (typeof GROUPS)[number] }> = {
  NODE_ENV: {
    group: 'Existing variables',
    readBy: 'all',
    production: '`production`',
    details: '`development`, `production` or `test`; `production` refuses the development-only secrets and makes the API send HSTS',
  },
  DB_URI: {
    group: 'Existing variables',
    readBy: 'all',
    production: '**secret**; set it',
    details: 'MongoDB connection string (`mongodb://` or `mongodb+srv://`); the default is the local store of `npm run dev`',
  },
  PORT: { group: 'Existing variables', readBy: 'API', details: 'HTTP port of the API (1–65535)' },
  PRO_RATA_REFUND_SCHEDULE_INTERVAL: {
    group: 'Pro-Rata Refund Scheduler Configuration',
    readBy: 'worker (Schedule), API (reported in status)',
    details: 'milliseconds between sweeps of the Temporal Schedule (1 s to 31 days); applied to the Schedule when a worker starts',
  },
  PRO_RATA_REFUND_AUTO_APPROVE_DAYS: {
    group: 'Refund Processing',
    readBy: 'API (requests), worker (sweep-started refunds)',
    production: 'same value in API and workers',
    details: 'days a refund waits for an admin before it is approved automatically; fractional allowed (> 0, ≤ 3650); fixed per refund when it is requested',
  },
  PRO_RATA_REFUND_PENALTY_BPS: {
    group: 'Refund Processing',
    readBy: 'API (previews, requests), worker (sweep)',
    production: 'same value in API and workers',
    details: 'penalty in basis points taken off the pro-rata amount (0–10000); fixed per refund when it is requested',
  },
  BLOCKCHAIN_PROVIDER_URL: {
    group: 'Blockchain Configuration',
    readBy: 'worker (payouts), API (status)',
    production: 'set it (compose requires it)',
    details: 'JSON-RPC endpoint payouts are sent through (`http`, `https`, `ws`, `wss`)',
  },
  BLOCKCHAIN_NETWORK: {
    group: 'Blockchain Configuration',
    readBy: 'worker, API (status)',
    production: 'set it (compose defaults to `mainnet`)',
    details:
      'network name or numeric chain id; names: `mainnet`/`homestead`/`ethereum` (1), `sepolia`, `holesky`, `optimism`, `polygon`/`matic`, `base`, `arbitrum`/`arbitrum-one`, `anvil`/`hardhat`/`localhost` (31337). At start the worker compares it with the provider\'s `eth_chainId` and stops on a mismatch; it also picks the payout defaults of the network',
  },
  TREASURY_PRIVATE_KEY: {
    group: 'Blockchain Configuration',
    readBy: 'worker signs with it; all validate it',
    production: '**secret**; required (the default is refused)',
    details: '0x-prefixed 32-byte key of the wallet refunds are paid from',
    shownDefault: 'development-only (anvil account #0)',
    exampleNote: 'development-only default (anvil\'s public account #0): production refuses it',
  },
  PAYOUT_CONFIRMATIONS: {
    group: 'Blockchain Configuration',
    readBy: 'worker',
    production: 'leave the network default unless you know better',
    details: 'depth (1–1000) at which a payout\'s receipt, or another transaction at its nonce, is believed; the refund completes only then',
    shownDefault: 'per network: 1 on anvil, 12 on mainnet',
  },
  PAYOUT_CONFIRMATION_TIMEOUT_MS: {
    group: 'Blockchain Configuration',
    readBy: 'worker',
    details: 'how long one run of the payout watcher lasts before it starts afresh (1 s to 14 min, below the 15-minute start-to-close timeout of the `confirmPayout` activity); it never gives up on a broadcast payout',
  },
  PAYOUT_STUCK_AFTER_MS: {
    group: 'Payout safety (defaults per network: docs/PAYOUTS.md)',
    readBy: 'worker',
    details: 'a payout not mined after this long is replaced at the same nonce with bumped fees; payouts queued this long behind an earlier nonce the chain does not mine raise `treasury.payout_stuck` (1 s to 24 h)',
    shownDefault: 'per network: 15 s on anvil, 3 min on mainnet',
  },
  PAYOUT_FEE_BUMP_PERCENT: {
    group: 'Payout safety (defaults per network: docs/PAYOUTS.md)',
    readBy: 'worker',
    details: 'how much each replacement raises both fee fields, in percent (10–1000; nodes refuse less than 10)',
  },
  PAYOUT_MAX_FEE_PER_GAS: {
    group: 'Payout safety (defaults per network: docs/PAYOUTS.md)',
    readBy: 'worker',
    production: 'set what a refund may cost in gas at worst',
    details: 'highest max fee per gas a payout may offer, in wei or `<n> gwei`; at the cap a stuck payout raises `treasury.payout_stuck` and keeps waiting',
    shownDefault: 'per network: 500 gwei on mainnet',
  },
  PAYOUT_MAX_AMOUNT: {
    group: 'Payout safety (defaults per network: docs/PAYOUTS.md)',
    readBy: 'worker',
    production: 'recommended',
    details: 'per-currency amount (`ETH=5,USDC=2500`, or `0x<token>=…`) above which a refund is never approved by the timer: it waits for an admin. A symbol applies to refunds whose subscription spells it so (any case); write the token\'s address to cover a token however subscriptions spell it (`USDC.e`…)',
  },
  PAYOUT_DAILY_LIMIT: {
    group: 'Payout safety (defaults per network: docs/PAYOUTS.md)',
    readBy: 'worker',
    production: 'recommended',
    details: 'per-currency total of payouts signed in a rolling 24 hours (symbols and token addresses as in `PAYOUT_MAX_AMOUNT`); beyond it payouts wait (refund `processing`, `waitingReason` set) and `treasury.daily_limit` is raised',
  },
  TREASURY_LOW_BALANCE: {
    group: 'Payout safety (defaults per network: docs/PAYOUTS.md)',
    readBy: 'worker (alert), API (status)',
    production: 'recommended',
    details: 'per-currency balance under which `treasury.low_balance` is raised (webhook, log, metric), once until it is topped up again; the native coin, which pays the gas of token payouts too, is `ETH` (`POL` on Polygon) until a refund in it records its own symbol',
  },
  LOG_LEVEL: { group: 'Logging', readBy: 'all', details: 'pino level: `fatal`, `error`, `warn`, `info`, `debug`, `trace`, `silent`' },
  SENTRY_DSN: { group: 'Logging', readBy: 'API, worker', production: '**secret**', details: 'Sentry DSN; errors are reported when set' },
  SENDGRID_API_KEY: { group: 'Email Notifications', readBy: 'worker', production: '**secret**; set it' },
  SENDGRID_API_URL: { group: 'Email Notifications', readBy: 'worker', production: 'keep the default' },
  EMAIL_FROM: { group: 'Email Notifications', readBy: 'worker', production: 'a verified SendGrid sender' },
  REFUND_NOTIFICATION_EMAIL: {
    group: 'Email Notifications',
    readBy: 'worker',
    production: 'set it',
    details: 'finance mailbox: its own copy of the requested, approved, rejected and completed emails, and the failed-payout email ([docs/REFUND_POLICY.md](docs/REFUND_POLICY.md#how-you-are-notified))',
  },
  ADMIN_WEBHOOK_URL: { group: 'Admin Settings (signed webhook)', readBy: 'worker', production: 'set it', details: 'URL that receives signed refund events and treasury alerts; none are sent when unset' },
  ADMIN_WEBHOOK_SECRET: {
    group: 'Admin Settings (signed webhook)',
    readBy: 'worker',
    production: '**secret**; required (the default is refused)',
    details: 'HMAC-SHA256 key of the `X-Refund-Signature` header (≥ 16 characters)',
    shownDefault: 'development-only',
    exampleNote: DEV_SECRET,
  },
  AUTH_JWT_SECRET: {
    group: 'Auth / API',
    readBy: 'API, `npm run token`, smoke and load tests (to mint tokens)',
    production: '**secret**; required (the default is refused)',
    details: 'HS256 key of the API bearer tokens (≥ 32 characters)',
    shownDefault: 'development-only',
    exampleNote: DEV_SECRET,
  },
  CORS_ORIGINS: { group: 'Auth / API', readBy: 'API' },
  TEMPORAL_ADDRESS: { group: 'Temporal', readBy: 'API, worker', production: 'set it', details: 'Temporal frontend `host:port`' },
  TEMPORAL_NAMESPACE: { group: 'Temporal', readBy: 'API, worker', production: 'set it' },
  TEMPORAL_TASK_QUEUE: {
    group: 'Temporal',
    readBy: 'API, worker',
    production: 'never change it while refunds run (docs/RUNBOOK.md)',
    details: 'task queue shared by the API and all workers; also names the Schedule (`<queue>-sweep`)',
  },
  TEMPORAL_TLS: { group: 'Temporal', readBy: 'API, worker', details: '`true`/`1` to connect over TLS; implied by `TEMPORAL_TLS_CERT_PATH` or `TEMPORAL_API_KEY`' },
  TEMPORAL_TLS_CERT_PATH: { group: 'Temporal', readBy: 'API, worker', production: 'with `TEMPORAL_TLS_KEY_PATH`', details: 'client certificate (PEM) for mTLS' },
  TEMPORAL_TLS_KEY_PATH: { group: 'Temporal', readBy: 'API, worker', production: 'with `TEMPORAL_TLS_CERT_PATH`', details: 'client key (PEM) for mTLS' },
  TEMPORAL_TLS_SERVER_NAME: { group: 'Temporal', readBy: 'API, worker' },
  TEMPORAL_API_KEY: { group: 'Temporal', readBy: 'API, worker', production: '**secret**' },
  TEMPORAL_WEB_UI_URL: {
    group: 'Temporal',
    readBy: 'API',
    production: 'the UI\'s public address, e.g. `http://<host>:8080` with Docker Compose',
    details: 'base URL of the Temporal Web UI as admins\' browsers reach it; the admin console (`/admin`) links each refund to its workflow there, and shows no link when unset',
  },
  WORKER_MAX_CACHED_WORKFLOWS: { group: 'Worker', readBy: 'worker', production: 'size with the memory limit', details: 'workflows a worker keeps in memory (about 0.3 MB each; 0–100000); more than the refunds moving at once only costs memory, fewer costs replays (see docs/PERFORMANCE.md)' },
  WORKER_SHUTDOWN_GRACE_MS: { group: 'Worker', readBy: 'worker', production: 'below the stop timeout of the process manager' },
  WORKER_METRICS_PORT: {
    group: 'Worker',
    readBy: 'worker',
    production: 'one port per process on a host for stable scrape targets; a taken port moves the worker to the next free one',
    details: 'port of the worker\'s Prometheus endpoint for Temporal SDK metrics; 0 disables it',
  },
};

const DEFAULTS = envSchema.parse({}) as Record<string, unknown>;
const variables = Object.keys(envSchema.shape) as (keyof Env)[];

/** The default as `.env.example` writes it: empty when the schema has none. */
function exampleValue(name: keyof Env): string {
  const value = DEFAULTS[name];
  return value === undefined || value === false ? '' : String(value);
}

function shownDefault(name: keyof Env): string {
  const shown = ENV_DOCS[name].shownDefault;
  if (shown) return shown;
  const value = exampleValue(name);
  return value === '' ? '—' : `\`${value}\``;
}

/** The README's table: variable, default, meaning. */
export function renderReadmeTable(): string {
  const rows = variables.map((name) => `| \`${name}\` | ${shownDefault(name)} | ${ENV_DESCRIPTIONS[name]} |`);
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

/** The configuration reference: variable, default, meaning, who reads it, what production needs. */
export function renderReferenceTable(): string {
  const rows = variables.map((name) => {
    const doc = ENV_DOCS[name];
    return `| \`${name}\` | ${shownDefault(name)} | ${doc.details ?? ENV_DESCRIPTIONS[name]} | ${doc.readBy} |${doc.production ? ` ${doc.production} ` : ' '}|`;
  });
  return ['| variable | default | meaning | read by | production |', '|---|---|---|---|---|', ...rows].join('\n');
}

const ENV_EXAMPLE_HEADER = `# Configuration of the pro-rata refund service: every variable the service reads
# (src/config/schema.ts), each with its default. Copy to \`.env\` for local runs:
# the API, the worker and the CLI read ./.env from their working directory, and
# variables already set in the environment win. Empty means unset. Values are
# validated at start: a bad one stops the process with a message naming it.
# Generated by \`npm run docs:config\` from src/config/env-docs.ts: edit that, not this.
#
# Production: set NODE_ENV=production and replace the three development-only
# secrets (TREASURY_PRIVATE_KEY, AUTH_JWT_SECRET, ADMIN_WEBHOOK_SECRET); the
# service refuses to start in production with their defaults. The addresses
# below (127.0.0.1) are for one machine; docker-compose.yml has its own.`;

export function renderEnvExample(): string {
  const blocks = GROUPS.map((group) => {
    const lines = variables
      .filter((name) => ENV_DOCS[name].group === group)
      .flatMap((name) => [`# ${ENV_DESCRIPTIONS[name]}`, ...(ENV_DOCS[name].exampleNote ? [`# ${ENV_DOCS[name].exampleNote}`] : []), `${name}=${exampleValue(name)}`]);
    return [`# ${group}`, ...lines].join('\n');
  });
  return `${ENV_EXAMPLE_HEADER}\n\n${blocks.join('\n\n')}\n`;
}

/** Where the generated text goes: whole files, or the part of a file between two markers. */
export const GENERATED_DOCS = [
  { file: 'README.md', marker: 'config-table', render: renderReadmeTable },
  { file: 'DEPLOYMENT.md', marker: 'config-reference', render: renderReferenceTable },
  { file: '.env.example', marker: null, render: renderEnvExample },
] as const;

export function applyGenerated(text: string, marker: string | null, rendered: string): string {
  if (marker === null) return rendered;
  const start = `<!-- generated:${marker} -->`;
  const end = `<!-- /generated:${marker} -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`markers ${start} … ${end} not found`);
  return `${text.slice(0, from + start.length)}\n${rendered}\n${text.slice(to)}`;
}
