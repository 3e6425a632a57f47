import type { LocalServices } from '../../src/dev/services';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __localServices?: LocalServices }).__localServices?.stop();
}
