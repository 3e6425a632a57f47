// bench/worker-rss.ts preloads this (--require) into the worker process: its main thread and its workflow
// thread each append their V8 heap figures to MEM_PROBE_FILE every 2 s.
'use strict';
const fs = require('node:fs');
const v8 = require('node:v8');
const { isMainThread, threadId } = require('node:worker_threads');
const file = process.env.MEM_PROBE_FILE;
if (file) {
  const write = () => {
    const h = v8.getHeapStatistics();
    const m = process.memoryUsage();
    const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, Math.round(s.physical_space_size / 2 ** 20 * 10) / 10]));
    fs.appendFileSync(file, JSON.stringify({ t: Date.now(), thread: isMainThread ? 'main' : `worker${threadId}`, rss: m.rss, heapTotal: h.total_heap_size, heapPhysical: h.total_physical_size, heapUsed: h.used_heap_size, malloced: h.malloced_memory, peakMalloced: h.peak_malloced_memory, external: m.external, arrayBuffers: m.arrayBuffers, contexts: h.number_of_native_contexts, detached: h.number_of_detached_contexts, spaces }) + '\n');
  };
  setInterval(write, 2000).unref();
}
