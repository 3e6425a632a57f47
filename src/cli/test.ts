import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { buildConsole } from '../dev/console-build';
import { ensureFerretdbServer, ensureTemporalCli } from '../dev/provision';

const root = path.resolve(__dirname, '..', '..');

/** `npm test [-- jest args]`: provision the service binaries, type-check, build the admin console, run jest (which starts the services). */
export async function run(args: string[]): Promise<number> {
  await Promise.all([ensureTemporalCli(), ensureFerretdbServer()]);

  console.log('[test] type-checking');
  const typecheck = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json'), '--noEmit'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (typecheck.status !== 0) return typecheck.status ?? 1;
  console.log('[test] type-checking and building the admin console');
  const consoleBuild = buildConsole();
  if (consoleBuild !== 0) return consoleBuild;

  const jest = spawnSync(process.execPath, [require.resolve('jest/bin/jest'), ...args], { cwd: root, stdio: 'inherit' });
  return jest.status ?? 1;
}
