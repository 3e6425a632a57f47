import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type Koa from 'koa';
import type { Logger } from '../logger';
import { packageRoot } from '../package-root';
import type { ApiState } from './context';
import { apiError } from './errors';
import { CONSOLE_PATH } from './middleware/security-headers';

/**
 * The admin console: one static page and its compiled scripts, built from
 * src/console by `npm run build` (and by `npm run dev` and `npm test`) into
 * dist/console. The page itself holds nothing: every figure on it comes from the
 * admin-only API with the admin's token, so serving it needs no token (a
 * browser cannot send one on navigation). Its CSP is set in security-headers.ts.
 */
export const CONSOLE_ASSETS_PREFIX = `${CONSOLE_PATH}/assets/`;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

export function consoleBuildDir(): string {
  return path.join(packageRoot(), 'dist', 'console');
}

export function serveConsole(logger: Logger, buildDir = consoleBuildDir()): Koa.Middleware<ApiState> {
  return async (ctx, next) => {
    const file = consoleFile(ctx.path);
    if (file === undefined) return next();
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.set('Allow', 'GET, HEAD');
      throw apiError('METHOD_NOT_ALLOWED', `${ctx.method} is not allowed here; allowed: GET, HEAD`);
    }
    if (file === null) {
      ctx.status = 404;
      ctx.type = 'text/plain; charset=utf-8';
      ctx.body = 'no such file in the admin console';
      return;
    }
    const content = await fs.readFile(path.join(buildDir, file)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null;
      throw error;
    });
    if (!content) {
      ctx.type = 'text/plain; charset=utf-8';
      if (existsSync(path.join(buildDir, 'index.html'))) {
        ctx.status = 404;
        ctx.body = 'no such file in the admin console';
      } else {
        logger.error({ buildDir }, 'the admin console is not built: run npm run build');
        ctx.status = 503;
        ctx.body = 'The admin console is not built on this server (dist/console is missing): run npm run build.';
      }
      return;
    }
    ctx.status = 200;
    ctx.type = CONTENT_TYPES[path.extname(file)]!;
    ctx.body = content;
  };
}

/** The file a console path names; null for a console path naming none; undefined outside the console. */
function consoleFile(requestPath: string): string | null | undefined {
  if (requestPath === CONSOLE_PATH || requestPath === `${CONSOLE_PATH}/`) return 'index.html';
  if (!requestPath.startsWith(`${CONSOLE_PATH}/`)) return undefined;
  if (!requestPath.startsWith(CONSOLE_ASSETS_PREFIX)) return null;
  const name = requestPath.slice(CONSOLE_ASSETS_PREFIX.length);
  // Flat names only: nothing outside dist/console can be asked for.
  return /^[a-z][a-z0-9-]*\.(js|css)$/.test(name) ? name : null;
}
