import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { buildConsole } from '../dev/console-build';
import { ensureFerretdbServer, ensurePostgres, ensureTemporalCli, ensureTimeSkippingServer } from '../dev/provision';
import { localStore } from '../dev/services';

const root = path.resolve(__dirname, '..', '..');

/**
 * `npm test [-- jest args]`: provision the service binaries, type-check, build
 * the admin console, run jest (which starts the services).
 * `npm run test:fast` (`--fast`): only the fast tier (test/jest.fast.config.cjs): no services, seconds.
 */
export async function run(args: string[]): Promise<number> {
  const fast = args.includes('--fast');
  const jestArgs = args.filter((arg) => arg !== '--fast');
  if (fast) await ensureTimeSkippingServer();
  else {
    // PostgreSQL first and alone: installing it (apt-get, when missing) must not race the Go builds for the CPU.
    if (localStore() === 'postgresql') ensurePostgres();
    await Promise.all([ensureTemporalCli(), ensureFerretdbServer(), ensureTimeSkippingServer()]);
  }

  if (!fast) {
    // The fast tier skips the type-check (swc strips types): it is for the edit-test loop; `npm test` checks.
    console.log('[test] type-checking');
    const typecheck = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json'), '--noEmit'], {
      cwd: root,
      stdio: 'inherit',
    });
    if (typecheck.status !== 0) return typecheck.status ?? 1;
    console.log('[test] building the admin console');
    const consoleBuild = buildConsole();
    if (consoleBuild !== 0) return consoleBuild;
  }

  const config = fast ? ['--config', path.join(root, 'test', 'jest.fast.config.cjs')] : [];
  const jest = spawnSync(process.execPath, [require.resolve('jest/bin/jest'), ...config, ...jestArgs], { cwd: root, stdio: 'inherit' });
  return jest.status ?? 1;
}
