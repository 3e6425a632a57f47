import fs from 'node:fs';
import path from 'node:path';
import { EXIT_USAGE, parseCommandLine, parseOrUsage, UsageError } from './smoke';

/**
 * `npm run bench [-- --quick] [-- --only proration,memory,api,volume,payout]`: the benchmarks under
 * bench/. They print ratios measured in the same run (against a baseline or
 * a budget), never a pass/fail on a timing. bench/ is not part of the build
 * or the image (.dockerignore), so its files are loaded by path, from source.
 */

export type BenchOutcome = { status: 'ran' } | { status: 'skipped'; reason: string };

export interface BenchOptions {
  /** `--quick`: the smaller sizes, for a run of under three minutes. */
  quick: boolean;
}

/** What every bench/<name>.bench.ts exports. */
export interface BenchModule {
  title: string;
  run(log: (line: string) => void, options: BenchOptions): Promise<BenchOutcome>;
}

export const BENCHES = {
  proration: 'proration.bench',
  memory: 'memory.bench',
  api: 'api.bench',
  volume: 'volume.bench',
  payout: 'payout.bench',
} as const;

export type BenchName = keyof typeof BENCHES;

/** --quick leaves out the 20-refund API bench: the volume bench's small sizes cover it. */
const QUICK_DEFAULT: BenchName[] = ['proration', 'memory', 'volume'];

const USAGE = `usage: npm run bench [-- --quick] [-- --only ${Object.keys(BENCHES).join(',')}]`;

const BENCH_FLAGS = { only: { type: 'string' }, quick: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const;

export function parseBenchOptions(args: string[]): BenchOptions {
  return { quick: Boolean(parseCommandLine(args, BENCH_FLAGS).values.quick) };
}

export function parseBenchArgs(args: string[]): BenchName[] | 'help' {
  const { values } = parseCommandLine(args, BENCH_FLAGS);
  if (values.help) return 'help';
  if (values.only === undefined) return values.quick ? QUICK_DEFAULT : (Object.keys(BENCHES) as BenchName[]);
  const names = String(values.only).split(',').map((name) => name.trim()).filter(Boolean);
  const unknown = names.filter((name) => !(name in BENCHES));
  if (unknown.length > 0 || names.length === 0) throw new UsageError(`--only: unknown bench ${unknown.join(', ') || '(none given)'}; choose from ${Object.keys(BENCHES).join(', ')}`);
  return names as BenchName[];
}

const benchDir = path.resolve(__dirname, '..', '..', 'bench');

export async function run(args: string[]): Promise<number> {
  const names = parseOrUsage(() => parseBenchArgs(args), USAGE);
  if (typeof names === 'number') return names;
  if (names === 'help') {
    console.log(USAGE);
    return 0;
  }
  if (!fs.existsSync(benchDir)) {
    console.error(`no ${benchDir}: the benchmarks run from a source checkout (npm run bench)`);
    return EXIT_USAGE;
  }
  const options = parseBenchOptions(args);
  const started = performance.now();
  let failed = 0;
  for (const name of names) {
    const bench = require(path.join(benchDir, BENCHES[name])) as BenchModule;
    console.log(`\n${bench.title}`);
    const benchStarted = performance.now();
    try {
      const outcome = await bench.run((line) => console.log(`  ${line}`), options);
      const seconds = ((performance.now() - benchStarted) / 1000).toFixed(1);
      console.log(outcome.status === 'ran' ? `  (${seconds} s)` : `  skipped: ${outcome.reason}`);
    } catch (error) {
      failed += 1;
      console.error(`  failed: ${(error as Error).stack ?? error}`);
    }
  }
  console.log(`\nbench done in ${((performance.now() - started) / 1000).toFixed(1)} s${failed ? `, ${failed} failed` : ''}`);
  return failed === 0 ? 0 : 1;
}
