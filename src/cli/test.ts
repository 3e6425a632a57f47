import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ensureFerretdbServer, ensurePostgres, ensureTemporalCli } from '../dev/provision';
import { localStore } from '../dev/services';

const root = path.resolve(__dirname, '..', '..');

/** `npm test [-- jest args]`: provision the service binaries, type-check, run jest (which starts the services). */
export async function run(args: string[]): Promise<number> {
  // PostgreSQL first and alone: installing it (apt-get, when missing) must not race the Go builds for the CPU.
  if (localStore() === 'postgresql') ensurePostgres();
  await Promise.all([ensureTemporalCli(), ensureFerretdbServer()]);

  console.log('[test] type-checking');
  const typecheck = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json'), '--noEmit'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (typecheck.status !== 0) return typecheck.status ?? 1;

  const jest = spawnSync(process.execPath, [require.resolve('jest/bin/jest'), ...args], { cwd: root, stdio: 'inherit' });
  return jest.status ?? 1;
}
