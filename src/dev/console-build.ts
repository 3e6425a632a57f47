import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { consoleBuildDir } from '../api/console';
import { packageRoot } from '../package-root';

/** The console's sources: browser TypeScript with its own tsconfig (DOM, ES modules), its page and its stylesheet. */
export const CONSOLE_SOURCE_DIR = path.join(packageRoot(), 'src', 'console');
const STATIC_FILES = ['index.html', 'console.css'];

/**
 * Type-checks and compiles the admin console into dist/console, where the API
 * serves it from. Part of `npm run build`; `npm run dev` and `npm test` run it
 * too, so the page served is always the one in the sources. Returns tsc's exit code.
 */
export function buildConsole(outDir = consoleBuildDir()): number {
  fs.rmSync(outDir, { recursive: true, force: true });
  const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(CONSOLE_SOURCE_DIR, 'tsconfig.json'), '--outDir', outDir], {
    cwd: packageRoot(),
    stdio: 'inherit',
  });
  if (tsc.status !== 0) return tsc.status ?? 1;
  for (const file of STATIC_FILES) fs.copyFileSync(path.join(CONSOLE_SOURCE_DIR, file), path.join(outDir, file));
  return 0;
}

if (require.main === module) process.exitCode = buildConsole();
