import fs from 'node:fs';
import type { LocalServices } from '../../src/dev/services';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __localServices?: LocalServices }).__localServices?.stop();
  if (process.env.TEST_WORKFLOW_BUNDLE_DIR) fs.rmSync(process.env.TEST_WORKFLOW_BUNDLE_DIR, { recursive: true, force: true });
}
