import { ApplicationFailure } from '@temporalio/common';
import { DefaultLogger, Runtime, Worker, type ActivityInterceptorsFactory, type LogLevel, type NativeConnection, type WorkflowBundleOption } from '@temporalio/worker';
import { reportError } from '../observability/sentry';
import type { Activities } from '../../activities';
import type { Config } from '../config';
import type { Logger } from '../logger';

/** Where the worker finds the workflow code; tests pass a pre-built bundle instead. */
export const WORKFLOWS_PATH = require.resolve('../../workflows');

export interface RefundWorkerOptions {
  connection: NativeConnection;
  config: Config;
  activities: Activities;
  workflowBundle?: WorkflowBundleOption;
  taskQueue?: string;
}

/** One worker on the refunds task queue. Stateless: run as many processes as the load needs. */
export function createRefundWorker({ connection, config, activities, workflowBundle, taskQueue }: RefundWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: taskQueue ?? config.temporal.taskQueue,
    ...(workflowBundle ? { workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities,
    maxCachedWorkflows: config.worker.maxCachedWorkflows,
    shutdownGraceTime: config.worker.shutdownGraceMs,
    interceptors: { activity: [reportActivityFailures] },
  });
}

/** Activity errors that will not be retried away go to Sentry (a no-op without SENTRY_DSN). */
const REPORT_FROM_ATTEMPT = 3;
const reportActivityFailures: ActivityInterceptorsFactory = (context) => ({
  inbound: {
    async execute(input, next) {
      try {
        return await next(input);
      } catch (error) {
        const final = error instanceof ApplicationFailure && error.nonRetryable;
        if (final || context.info.attempt >= REPORT_FROM_ATTEMPT) {
          reportError(error, {
            activity: context.info.activityType,
            attempt: context.info.attempt,
            failureType: error instanceof ApplicationFailure ? error.type : undefined,
            workflowId: context.info.workflowExecution?.workflowId,
          });
        }
        throw error;
      }
    },
  },
});

const PINO_LEVEL: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** Where this process serves Temporal SDK metrics, for the log: a port, or none (and why, unless switched off). */
export interface MetricsEndpoint {
  configuredPort: number;
  port: number | null;
  reason?: string;
}

/** How many ports, from WORKER_METRICS_PORT up, a worker tries before it runs without the endpoint. */
export const METRICS_PORT_ATTEMPTS = 10;

/** How the core bridge words EADDRINUSE (the OS error text, then its number: 98 on Linux, 48 on macOS). */
const ADDRESS_IN_USE = /address already in use|os error (98|48)\b/i;

/**
 * Once per process, before any connection: the SDK's own logs (including the
 * replay-aware workflow `log`) go through our logger, and its metrics are served
 * for Prometheus on WORKER_METRICS_PORT.
 *
 * A worker never dies for its metrics endpoint: several workers started on one
 * host with the same settings is how people scale. When the port is taken the
 * next ones are tried (the SDK binds the port itself, so trying is the only race-free
 * probe; a failed install leaves nothing behind); when none is free, or the bind
 * fails otherwise, the worker runs without the endpoint. The caller logs the outcome.
 */
export function installTemporalRuntime(config: Config, logger: Logger): MetricsEndpoint {
  const temporalLogger = logger.child({ component: 'Temporal' });
  const level = config.logLevel === 'silent' || config.logLevel === 'fatal' ? 'ERROR' : (config.logLevel.toUpperCase() as LogLevel);
  const install = (port: number | null) =>
    Runtime.install({
      logger: new DefaultLogger(level, (entry) => {
        const { message, meta } = entry;
        temporalLogger[PINO_LEVEL[entry.level]]({ ...meta }, message);
      }),
      telemetryOptions: port === null ? undefined : { metrics: { prometheus: { bindAddress: `0.0.0.0:${port}` } } },
    });

  const configuredPort = config.worker.metricsPort;
  if (configuredPort === 0) {
    install(null);
    return { configuredPort, port: null };
  }
  const lastPort = Math.min(configuredPort + METRICS_PORT_ATTEMPTS - 1, 65535);
  let reason = '';
  for (let port = configuredPort; port <= lastPort; port += 1) {
    try {
      install(port);
      return { configuredPort, port };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (!message.includes('prometheus metrics exporter')) throw error;
      if (!ADDRESS_IN_USE.test(message)) {
        reason = message;
        break;
      }
      reason = `ports ${configuredPort}-${lastPort} are in use`;
    }
  }
  install(null);
  return { configuredPort, port: null, reason };
}
