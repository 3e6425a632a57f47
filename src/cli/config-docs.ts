import fs from 'node:fs';
import path from 'node:path';
import { applyGenerated, GENERATED_DOCS } from '../config/env-docs';

const root = path.resolve(__dirname, '..', '..');

/**
 * `npm run docs:config [-- --check]`: writes the configuration tables of the
 * README and the deployment guide, and `.env.example`, from the config schema
 * (src/config/env-docs.ts). With --check it writes nothing and exits 1 when a
 * file is not what the schema says (the test suite runs that check).
 */
export async function run(args: string[]): Promise<number> {
  const check = args.includes('--check');
  const stale = outdatedDocs();
  if (check) {
    for (const file of stale) console.error(`${file} is not generated from the config schema: run npm run docs:config`);
    return stale.length === 0 ? 0 : 1;
  }
  for (const { file, marker, render } of GENERATED_DOCS) {
    const full = path.join(root, file);
    fs.writeFileSync(full, applyGenerated(fs.readFileSync(full, 'utf8'), marker, render()));
  }
  console.log(stale.length === 0 ? 'configuration docs were up to date' : `regenerated ${stale.join(', ')}`);
  return 0;
}

/** The generated files whose content differs from what the schema renders. */
export function outdatedDocs(): string[] {
  return GENERATED_DOCS.filter(({ file, marker, render }) => {
    const text = fs.readFileSync(path.join(root, file), 'utf8');
    return applyGenerated(text, marker, render()) !== text;
  }).map(({ file }) => file);
}
