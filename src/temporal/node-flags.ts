/**
 * Node flags every worker process is started with (npm run worker, npm run dev,
 * the compose file, PM2; a test checks they agree). V8 grows each heap's young
 * generation up to 16 MB per semi-space, in the main thread (activities) and in
 * the workflow thread, and keeps what it grew: with 2 MB a worker holding its
 * full workflow cache stays about 60-80 MB smaller, for more frequent (cheap)
 * minor collections. See docs/PERFORMANCE.md, "Worker memory".
 */
export const WORKER_NODE_FLAGS = ['--max-semi-space-size=2'] as const;
