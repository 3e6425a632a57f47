/**
 * A worker process's resident memory with N refund workflows waiting for
 * approval, for one or more variants of its Node flags and environment (see
 * docs/PERFORMANCE.md, "Worker memory"). Local services; per variant a fresh
 * stack (own task queue and database), the compiled worker (`npm run build`
 * first) started with the variant's flags and environment and a probe logging
 * each thread's V8 heap, N refunds asked for through POST (8 in flight), then
 * RSS 2 s after the burst and every 5 s while idle, with smaps_rollup and status.
 * Files go to .scratch/worker-rss/.
 *
 *   node --import tsx bench/worker-rss.ts                 # before / now, 1 000 waiting
 *   node --import tsx bench/worker-rss.ts '[{"name":"cache100","count":2000,"env":{"WORKER_MAX_CACHED_WORKFLOWS":"100"}}]'
 *   node --import tsx bench/worker-rss.ts '[{"name":"rounds","count":2000,"rounds":3,"env":{"MALLOC_ARENA_MAX":"2","MALLOC_TRIM_THRESHOLD_":"131072"}}]'
 *
 * With `rounds` > 1 the burst is repeated, each round with new subscriptions,
 * and after each round's idle samples its workflows are terminated and RSS is
 * sampled again for 30 s: whether the worker keeps memory per refund it has
 * run (a leak) or only per refund still waiting.
 *
 * `env` replaces the product's worker environment (WORKER_MALLOC_ENV) entirely;
 * `flags` defaults to WORKER_NODE_FLAGS.
 */
import type { Client } from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mintToken } from '../src/api/auth';
import { startLocalServices } from '../src/dev/services';
import { RefundStats } from '../src/persistence/refund-events';
import { subscriptionDoc } from '../test/support/fixtures';
import { startRefundStack } from '../test/support/refund-stack';
import { WORKER_MALLOC_ENV, WORKER_NODE_FLAGS } from '../src/temporal/node-flags';
import { refundWorkflowId } from '../src/domain/refund';
import { processStat } from './cpu-by-process';
import { pointTestSupportAt, quietTemporalRuntime, rssOf, serveApi, stopProcess, workerReady } from './local-stack';

interface ProbeLine { thread: string; heapPhysical: number; heapUsed: number; malloced: number; external: number; contexts: number; spaces: Record<string, number> }
interface Variant { name: string; count: number; rounds?: number; flags?: string[]; env?: Record<string, string>; idleSeconds?: number }
const DEFAULT_VARIANTS: Variant[] = [
  { name: 'before', count: 1000, env: {} },
  { name: 'now', count: 1000, env: { ...WORKER_MALLOC_ENV } },
];
const variants = process.argv[2] ? (JSON.parse(process.argv[2]) as Variant[]) : DEFAULT_VARIANTS;
const root = path.resolve(__dirname, '..');
const outDir = path.join(root, '.scratch', 'worker-rss');
fs.mkdirSync(outDir, { recursive: true });
const MiB = (b: number) => (b / 2 ** 20).toFixed(0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function kv(file: string, keys: string[]): Record<string, string> {
  const text = fs.readFileSync(file, 'utf8');
  const out: Record<string, string> = {};
  for (const k of keys) out[k] = (new RegExp(`^${k}:\\s+(.*)$`, 'm').exec(text)?.[1] ?? '').trim();
  return out;
}
function memDetail(pid: number) {
  const roll = kv(`/proc/${pid}/smaps_rollup`, ['Rss', 'Pss', 'Pss_Anon', 'Pss_File', 'Anonymous', 'Shared_Clean', 'Private_Clean', 'Private_Dirty']);
  const st = kv(`/proc/${pid}/status`, ['VmRSS', 'RssAnon', 'RssFile', 'VmHWM', 'VmSize', 'Threads']);
  return { ...roll, ...st };
}
function probeLast(file: string) {
  if (!fs.existsSync(file)) return {};
  const last: Record<string, ProbeLine> = {};
  for (const line of fs.readFileSync(file, 'utf8').trim().split('\n')) {
    try {
      const entry = JSON.parse(line) as ProbeLine;
      last[entry.thread] = entry;
    } catch {
      // a line still being written
    }
  }
  return Object.fromEntries(Object.entries(last).map(([t, j]) => [t, `heapPhys ${MiB(j.heapPhysical)} used ${MiB(j.heapUsed)} malloced ${MiB(j.malloced)} ext ${MiB(j.external)} ctx ${j.contexts} spaces ${JSON.stringify(j.spaces)}`]));
}

/** The shell's own MALLOC_* settings would blur the comparison: each variant says its own. */
function withoutMallocSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith('MALLOC_')));
}

async function main() {
  quietTemporalRuntime();
  const services = await startLocalServices({ log: () => undefined });
  const restore = pointTestSupportAt(services);
  const summary: string[] = [];
  try {
    for (const v of variants) {
      const stack = await startRefundStack({ worker: false, env: { LOG_LEVEL: 'error', ...(v.env ?? {}) } });
      const probeFile = path.join(outDir, `${v.name}.probe.jsonl`);
      fs.rmSync(probeFile, { force: true });
      const logFile = fs.openSync(path.join(outDir, `${v.name}.worker.log`), 'w');
      const flags = v.flags ?? [...WORKER_NODE_FLAGS];
      const worker: ChildProcess = spawn(process.execPath, [...flags, '--require', path.join(__dirname, 'worker-rss-probe.cjs'), path.join(root, 'dist/src/temporal/worker-main.js')], {
        cwd: root,
        env: { ...withoutMallocSettings(process.env), ...stack.env, LOG_LEVEL: 'error', MEM_PROBE_FILE: probeFile, ...(v.env ?? WORKER_MALLOC_ENV) },
        stdio: ['ignore', logFile, logFile],
      });
      fs.closeSync(logFile);
      const pid = worker.pid!;
      let api: Awaited<ReturnType<typeof serveApi>> | undefined;
      try {
        await workerReady(stack);
        const subs = Array.from({ length: v.count * (v.rounds ?? 1) + 4 }, (_, i) => subscriptionDoc({ userId: `u-${i % 500}`, creatorId: `c-${i % 50}`, userWalletAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', status: 'active' }));
        for (let i = 0; i < subs.length; i += 1000) await stack.subscriptions.insertMany(subs.slice(i, i + 1000), { ordered: false });
        const stats = new RefundStats(stack.mongo);
        api = await serveApi(stack, stats);
        const base = api.baseUrl;
        const tokens = new Map<string, string>();
        for (const s of subs) if (!tokens.has(s.userId as string)) tokens.set(s.userId as string, await mintToken(stack.config.auth.jwtSecret, { sub: s.userId as string, role: 'user' }, '6h'));
        let next = 0; let ok = 0; let failed = 0;
        const post = async (upTo: number, inFlight: number) => {
          await Promise.all(Array.from({ length: inFlight }, async () => {
            while (next < upTo) {
              const s = subs[next++]!;
              const res = await fetch(`${base}/api/refunds/pro-rata`, { method: 'POST', headers: { authorization: `Bearer ${tokens.get(s.userId as string)}`, 'content-type': 'application/json' }, body: JSON.stringify({ subscriptionId: s._id.toHexString(), reason: 'rss' }) });
              await res.arrayBuffer();
              if (res.status === 202) ok += 1; else failed += 1;
            }
          }));
        };
        await post(4, 1); // warm-up
        await sleep(3000);
        const startup = rssOf(pid);
        const cpu = () => processStat(pid).seconds * 1000; // ms
        const rounds = v.rounds ?? 1;
        for (let round = 1; round <= rounds; round += 1) {
          const from = next;
          const cpu0 = cpu();
          const t0 = performance.now();
          await post(4 + round * v.count, 8);
          const rate = (v.count / (performance.now() - t0)) * 1000;
          const cpuPerRefund = (cpu() - cpu0) / v.count;
          await sleep(2000);
          const afterBurst = rssOf(pid);
          const burstDetail = memDetail(pid);
          const samples: number[] = [];
          const idleS = v.idleSeconds ?? 60;
          for (let i = 0; i < idleS / 5; i += 1) { await sleep(5000); samples.push(rssOf(pid)); }
          const idleDetail = memDetail(pid);
          const cpuThroughIdle = (cpu() - cpu0) / v.count;
          const pending = (await stats.fresh()).countsByStatus().pending_approval;
          const name = rounds > 1 ? `${v.name} round ${round}/${rounds}` : v.name;
          let line = `${name}: count ${v.count} (ok ${ok}, failed ${failed}, pending_approval ${pending}), POST ${rate.toFixed(1)}/s, worker CPU per refund ${cpuPerRefund.toFixed(1)} ms during the POSTs, ${cpuThroughIdle.toFixed(1)} ms through the idle samples, load ${os.loadavg()[0]!.toFixed(1)}; RSS start-up ${MiB(startup)} MiB, 2 s after burst ${MiB(afterBurst)} MiB, idle ${idleS}s ${MiB(samples.at(-1)!)} MiB (samples ${samples.map(MiB).join(',')}); VmHWM ${idleDetail.VmHWM}`;
          if (rounds > 1) {
            const afterTerminating = await terminateRound(stack.client, subs.slice(from, next).map((s) => s._id.toHexString()));
            line += `; its ${next - from} workflows terminated, RSS 30 s later ${MiB(afterTerminating)} MiB`;
          }
          console.log(line);
          console.log('  burst:', JSON.stringify(burstDetail));
          console.log('  idle :', JSON.stringify(idleDetail));
          for (const [t, s] of Object.entries(probeLast(probeFile))) console.log(`  ${t}: ${s}`);
          summary.push(line);
          fs.appendFileSync(path.join(outDir, 'results.txt'), `${new Date().toISOString()} ${JSON.stringify({ flags, env: v.env })} ${line}\n  idle ${JSON.stringify(idleDetail)}\n  probe ${JSON.stringify(probeLast(probeFile))}\n`);
        }

        /** Terminates the round's refund workflows (16 at a time) and returns the worker's RSS 30 s later. */
        async function terminateRound(client: Client, subscriptionIds: string[]): Promise<number> {
          let i = 0;
          await Promise.all(Array.from({ length: 16 }, async () => {
            while (i < subscriptionIds.length) await client.workflow.getHandle(refundWorkflowId(subscriptionIds[i++]!)).terminate('worker-rss round over');
          }));
          await sleep(30_000);
          return rssOf(pid);
        }
      } finally {
        await api?.close();
        await stopProcess(worker);
        await stack.close();
      }
    }
  } finally {
    restore();
    await services.stop();
  }
  console.log('\n' + summary.join('\n'));
}
main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
