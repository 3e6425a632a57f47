import fs from 'node:fs';
import os from 'node:os';

/**
 * Where the CPU goes while the product works: the CPU time (user + system,
 * from /proc) of this process and every process it started, grouped by what
 * they are. Throughput on a machine whose cores are all busy is bounded by the
 * CPU one unit of work costs across all of them, so the benches print that
 * cost per payout or per request, and the bound it sets.
 */

export type CpuSeconds = Map<string, number>;

const CLOCK_TICKS_PER_SECOND = 100; // Linux's USER_HZ on every architecture Node runs on

/** Components by the command name of their processes; the worker and this process by pid. */
function componentOf(pid: number, command: string, workerPid: number | undefined): string {
  if (pid === workerPid) return 'worker';
  if (pid === process.pid) return 'bench process (API, load)';
  if (command === 'temporal') return 'Temporal';
  if (command === 'ferretdb-server') return 'FerretDB';
  if (command === 'postgres') return 'PostgreSQL';
  if (command === 'anvil') return 'anvil';
  return 'other';
}

interface ProcessStat {
  parent: number;
  command: string;
  /** CPU time used so far, user + system. */
  seconds: number;
}

/** /proc/PID/stat: the command name (field 2) is in parentheses and may hold spaces; the rest starts at field 3. */
export function processStat(pid: number): ProcessStat {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    parent: Number(fields[1]),
    command: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    seconds: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND,
  };
}

/** CPU seconds used so far by this process and its descendants, by component. */
export function cpuByProcess(workerPid?: number): CpuSeconds {
  const processes = new Map<number, ProcessStat>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      processes.set(Number(entry), processStat(Number(entry)));
    } catch {
      // the process ended meanwhile
    }
  }
  const descendsFromUs = (pid: number): boolean => {
    for (let current: number | undefined = pid, hops = 0; current !== undefined && current > 1 && hops < 64; hops += 1) {
      if (current === process.pid) return true;
      current = processes.get(current)?.parent;
    }
    return false;
  };
  const byComponent: CpuSeconds = new Map();
  for (const [pid, { command, seconds }] of processes) {
    if (!descendsFromUs(pid)) continue;
    const component = componentOf(pid, command, workerPid);
    byComponent.set(component, (byComponent.get(component) ?? 0) + seconds);
  }
  return byComponent;
}

/** What each component used between two readings. */
export function cpuBetween(before: CpuSeconds, after: CpuSeconds): CpuSeconds {
  return new Map([...after].map(([component, seconds]) => [component, Math.max(0, seconds - (before.get(component) ?? 0))]));
}

/**
 * "worker 215 ms, Temporal 158 ms, ... per payout (total 470 ms: 2 cores
 * allow at most 4.3 payouts/s at that cost)", components largest first.
 */
export function describeCpu(used: CpuSeconds, units: number, unit: string): string {
  const perUnit = [...used].map(([component, seconds]) => [component, (seconds * 1000) / Math.max(units, 1)] as const).filter(([, ms]) => ms >= 0.5);
  perUnit.sort((a, b) => b[1] - a[1]);
  const total = perUnit.reduce((sum, [, ms]) => sum + ms, 0);
  const cores = os.cpus().length;
  const bound = total > 0 ? ((cores * 1000) / total).toFixed(1) : '∞';
  return `${perUnit.map(([component, ms]) => `${component} ${ms.toFixed(0)} ms`).join(', ')} per ${unit} (total ${total.toFixed(0)} ms: ${cores} cores allow at most ${bound} ${unit}s/s at that cost)`;
}
