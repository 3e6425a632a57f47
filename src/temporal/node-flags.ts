/**
 * Node flags every worker process is started with (npm run worker, npm run dev,
 * the compose file, PM2; a test checks they agree). V8 grows each heap's young
 * generation up to 16 MB per semi-space, in the main thread (activities) and in
 * the workflow thread, and keeps what it grew: with 2 MB a worker holding its
 * full workflow cache stays about 60-80 MB smaller, for more frequent (cheap)
 * minor collections. See docs/PERFORMANCE.md, "Worker memory".
 */
export const WORKER_NODE_FLAGS = ['--max-semi-space-size=2'] as const;

/**
 * glibc malloc settings every worker process is started with, in its
 * environment (glibc reads them once, when the process starts, so they cannot
 * be set from inside it): the same places as WORKER_NODE_FLAGS, and the same
 * test. An environment that already sets one keeps its own value (npm run
 * worker, npm run dev).
 *
 * Setting MALLOC_TRIM_THRESHOLD_ at all (131072 is glibc's own default value)
 * turns off glibc's dynamic mmap threshold: without it, freeing one large block
 * raises the threshold (up to 32 MiB), so later large blocks (the Temporal
 * core's history and protobuf buffers, Node's Buffers) are carved from the
 * arenas and stay there, fragmented, after they are freed. With it, blocks over
 * 128 KiB are mmapped and returned on free, and arena tops are trimmed.
 * MALLOC_ARENA_MAX=2 bounds the per-thread arenas of the core's threads.
 * Measured: 80 MiB less once idle and 120 MiB less right after a burst, with
 * 1 000 refunds waiting. See docs/PERFORMANCE.md, "Worker memory".
 */
export const WORKER_MALLOC_ENV = { MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '131072' } as const;
