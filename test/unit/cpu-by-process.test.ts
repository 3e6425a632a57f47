import { spawn } from 'node:child_process';
import os from 'node:os';
import { cpuBetween, cpuByProcess, describeCpu } from '../../bench/cpu-by-process';

/** The benches' CPU accounting: what they print about where a payout's CPU goes rests on it. */
describe('cpuByProcess', () => {
  it('counts the CPU of a process this one started', async () => {
    // Spins until it has used 400 ms of CPU (however busy the machine is), says so, then idles so that it is still there to be read.
    const spin = "while (process.cpuUsage().user + process.cpuUsage().system < 400000); console.log('spun'); setTimeout(() => {}, 30000);";
    const child = spawn(process.execPath, ['-e', spin], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const before = cpuByProcess();
      await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
      const used = cpuBetween(before, cpuByProcess());
      expect(used.get('other') ?? 0).toBeGreaterThanOrEqual(0.3);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('names the worker by its pid', () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000);'], { stdio: 'ignore' });
    try {
      expect(cpuByProcess(child.pid).has('worker')).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('describeCpu', () => {
  it('gives each component per unit, largest first, and the rate the total allows on this machine', () => {
    const line = describeCpu(new Map([['Temporal', 1.5], ['worker', 2.0], ['anvil', 0.001]]), 10, 'payout');
    const cores = os.cpus().length;
    expect(line).toBe(`worker 200 ms, Temporal 150 ms per payout (total 350 ms: ${cores} cores allow at most ${((cores * 1000) / 350).toFixed(1)} payouts/s at that cost)`);
  });
});
