import fs from 'node:fs';
import path from 'node:path';
import { EXIT_USAGE, parseCommandLine, parseOrUsage, UsageError } from './smoke';

/**
 * `npm run chaos [-- --quick] [--refunds N] [--seed N]`: the fault campaign of
 * test/chaos/campaign.ts against local services it starts for itself. Prints
 * what it injected and what it checked; exit code 1 on any loss. It runs from a
 * source checkout (test/ is not in the image), like `npm run bench`.
 */
const USAGE = 'usage: npm run chaos [-- --quick] [--refunds N] [--seed N]';
const campaignPath = path.resolve(__dirname, '..', '..', 'test', 'chaos', 'campaign');

/** What test/chaos/campaign.ts exports (loaded by path: test/ is not part of the build). */
interface CampaignModule {
  FULL_CAMPAIGN: { refunds: number; seed: number };
  SMALL_CAMPAIGN: { refunds: number; seed: number };
  runCampaign(options: { refunds: number; seed: number; log: (line: string) => void }): Promise<unknown>;
  describeResult(result: unknown, log: (line: string) => void): boolean;
}

export function parseChaosArgs(args: string[]): { quick: boolean; refunds?: number; seed?: number } {
  const { values } = parseCommandLine(args, { quick: { type: 'boolean' }, refunds: { type: 'string' }, seed: { type: 'string' } });
  const count = (name: 'refunds' | 'seed') => {
    const value = values[name];
    if (value === undefined) return undefined;
    if (!/^\d+$/.test(String(value)) || Number(value) < 1) throw new UsageError(`--${name}: "${String(value)}" is not a positive integer`);
    return Number(value);
  };
  return { quick: Boolean(values.quick), refunds: count('refunds'), seed: count('seed') };
}

export async function run(args: string[]): Promise<number> {
  const options = parseOrUsage(() => parseChaosArgs(args), USAGE);
  if (typeof options === 'number') return options;
  if (!fs.existsSync(`${campaignPath}.ts`)) {
    console.error(`no ${campaignPath}.ts: the campaign runs from a source checkout (npm run chaos)`);
    return EXIT_USAGE;
  }
  const campaign = require(campaignPath) as CampaignModule;
  const base = options.quick ? campaign.SMALL_CAMPAIGN : campaign.FULL_CAMPAIGN;
  const result = await campaign.runCampaign({ ...base, refunds: options.refunds ?? base.refunds, seed: options.seed ?? base.seed, log: (line) => console.log(line) });
  console.log('');
  return campaign.describeResult(result, (line) => console.log(line)) ? 0 : 1;
}
