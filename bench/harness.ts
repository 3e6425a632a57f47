import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Measuring without fooling ourselves: warm up first (the JIT), interleave
 * the loops being compared (so drift hits both), take the median of rounds,
 * and keep every result alive in a sink (so nothing is optimised away).
 */

let sink = 0;
/** Feed a value here so the loop that produced it cannot be eliminated. */
export function consume(value: bigint | number | string): void {
  sink = (sink + (typeof value === 'string' ? value.length : Number(BigInt.asUintN(16, BigInt(value))))) % 65_521;
}
export const sinkValue = (): number => sink;

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Milliseconds one call of `loop` takes. */
export function timeOnce(loop: () => void): number {
  const started = process.hrtime.bigint();
  loop();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/** Runs every loop `warmup` times, then `rounds` times interleaved; the median milliseconds of each, by name. */
export function compareLoops<K extends string>(loops: Record<K, () => void>, { rounds = 7, warmup = 2 } = {}): Record<K, number> {
  const names = Object.keys(loops) as K[];
  for (let i = 0; i < warmup; i++) for (const name of names) loops[name]();
  const times = Object.fromEntries(names.map((name) => [name, [] as number[]])) as unknown as Record<K, number[]>;
  for (let i = 0; i < rounds; i++) for (const name of names) times[name].push(timeOnce(loops[name]));
  return Object.fromEntries(names.map((name) => [name, median(times[name])])) as Record<K, number>;
}

/** A garbage collector to call between heap snapshots, without asking the user for --expose-gc. */
export function exposeGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

/** Heap in use after two full collections (the second catches what finalizers of the first released). */
export function settledHeap(gc: () => void): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

export const group = (n: number): string => Math.round(n).toLocaleString('en-US').replace(/,/g, ' ');

export function formatBytes(bytes: number): string {
  const abs = Math.abs(bytes);
  if (abs >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
  if (abs >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes.toFixed(0)} B`;
}

/** "12.3×" for ratios ≥ 10 shown with one decimal less noise. */
export function times(ratio: number): string {
  return `${ratio >= 100 ? ratio.toFixed(0) : ratio >= 10 ? ratio.toFixed(1) : ratio.toFixed(2)}×`;
}

export function micros(ms: number): string {
  const us = ms * 1000;
  return us >= 100 ? `${us.toFixed(0)} µs` : `${us.toFixed(2)} µs`;
}
