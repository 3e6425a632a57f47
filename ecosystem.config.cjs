// PM2 process file for a host without containers. Build first, migrate once per
// deploy, then start both apps:
//
//   npm ci && npm run build
//   NODE_ENV=production node dist/src/cli/main.js migrate
//   pm2 start ecosystem.config.cjs --env production
//   pm2 scale prorata-refund-worker 4                # more workers, any time
//
// Configuration comes from the environment or from ./.env (see .env.example);
// the processes read .env themselves, and variables set here or in the shell win.
// Sizing: API_INSTANCES (default 'max', one per CPU, cluster mode sharing PORT)
// and WORKER_INSTANCES (default 2, separate processes on the same task queue).
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const util = require('node:util');

/** A setting from the environment, else from ./.env next to this file, else the fallback. */
function setting(name, fallback) {
  if (process.env[name] !== undefined && process.env[name] !== '') return process.env[name];
  const file = path.join(__dirname, '.env');
  if (typeof util.parseEnv === 'function' && fs.existsSync(file)) {
    const value = util.parseEnv(fs.readFileSync(file, 'utf8'))[name];
    if (value !== undefined && value !== '') return value;
  }
  return fallback;
}

/** 'max', a negative number (all CPUs but n) or a positive count, as PM2 takes it. */
function instances(name, fallback) {
  const value = String(setting(name, fallback)).trim();
  if (value === 'max') return value;
  const count = Number(value);
  if (!Number.isInteger(count) || count === 0) throw new Error(`${name} must be 'max' or a non-zero integer, got '${value}'`);
  return count;
}

// Every worker process serves Temporal SDK metrics on its own port: the first
// on WORKER_METRICS_PORT, the next ones on the following ports (increment_var).
// WORKER_METRICS_PORT=0 turns the endpoint off in every worker.
const workerMetricsPort = Number(setting('WORKER_METRICS_PORT', 9464));
if (!Number.isInteger(workerMetricsPort) || workerMetricsPort < 0 || workerMetricsPort > 65535) {
  throw new Error(`WORKER_METRICS_PORT must be a port number, got '${setting('WORKER_METRICS_PORT', 9464)}'`);
}

// The worker gets SIGINT, then kill_timeout before SIGKILL: longer than
// WORKER_SHUTDOWN_GRACE_MS (default 30 s), so running activities can finish.
const workerShutdownGraceMs = Number(setting('WORKER_SHUTDOWN_GRACE_MS', 30000)) || 30000;

// glibc malloc settings of every worker process (WORKER_MALLOC_ENV in src/temporal/node-flags.ts): glibc reads
// them when the process starts, so they are set here, not in .env. The shell's own values win.
const workerMallocEnv = {
  MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX || '2',
  MALLOC_TRIM_THRESHOLD_: process.env.MALLOC_TRIM_THRESHOLD_ || '131072',
};

module.exports = {
  apps: [
    {
      name: 'prorata-refund-api',
      script: 'dist/src/api/main.js',
      cwd: __dirname,
      exec_mode: 'cluster',
      instances: instances('API_INSTANCES', 'max'),
      kill_timeout: 10000,
      max_restarts: 10,
      min_uptime: '10s',
      time: true,
      env: {},
      env_production: { NODE_ENV: 'production' },
    },
    {
      name: 'prorata-refund-worker',
      script: 'dist/src/temporal/worker-main.js',
      // WORKER_NODE_FLAGS and WORKER_MALLOC_ENV in src/temporal/node-flags.ts: a smaller resident memory
      node_args: ['--max-semi-space-size=2'],
      cwd: __dirname,
      exec_mode: 'fork',
      instances: instances('WORKER_INSTANCES', 2),
      kill_timeout: Math.max(35000, workerShutdownGraceMs + 5000),
      max_restarts: 10,
      min_uptime: '10s',
      time: true,
      ...(workerMetricsPort > 0 ? { increment_var: 'WORKER_METRICS_PORT' } : {}),
      env: { ...workerMallocEnv, WORKER_METRICS_PORT: workerMetricsPort },
      env_production: { NODE_ENV: 'production', ...workerMallocEnv, WORKER_METRICS_PORT: workerMetricsPort },
    },
  ],
};
