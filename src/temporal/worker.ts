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

/**
 * Once per process, before any connection: the SDK's own logs (including the
 * replay-aware workflow `log`) go through our logger, and its metrics are served
 * for Prometheus on WORKER_METRICS_PORT.
 */
export function installTemporalRuntime(config: Config, logger: Logger): void {
  const temporalLogger = logger.child({ component: 'Temporal' });
  const level = config.logLevel === 'silent' || config.logLevel === 'fatal' ? 'ERROR' : (config.logLevel.toUpperCase() as LogLevel);
  Runtime.install({
    logger: new DefaultLogger(level, (entry) => {
      const { message, meta } = entry;
      temporalLogger[PINO_LEVEL[entry.level]]({ ...meta }, message);
    }),
    telemetryOptions: config.worker.metricsPort > 0 ? { metrics: { prometheus: { bindAddress: `0.0.0.0:${config.worker.metricsPort}` } } } : undefined,
  });
}
