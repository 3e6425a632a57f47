import type { Middleware } from 'koa';

/** Under this path the API serves the admin console (src/api/console.ts), a page instead of JSON. */
export const CONSOLE_PATH = '/admin';

const API_POLICY = "default-src 'none'; frame-ancestors 'none'";

/**
 * The console runs only its own script and stylesheet from this origin, talks only to this API, and
 * can be neither framed nor made to post forms elsewhere. No inline script or style is allowed.
 */
const CONSOLE_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** A JSON API is never framed, sniffed, cached or allowed to load anything. HSTS only where TLS is guaranteed (production). */
export function securityHeaders({ hsts }: { hsts: boolean }): Middleware {
  return async (ctx, next) => {
    const isConsole = ctx.path === CONSOLE_PATH || ctx.path.startsWith(`${CONSOLE_PATH}/`);
    ctx.set({
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
      'Content-Security-Policy': isConsole ? CONSOLE_POLICY : API_POLICY,
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cache-Control': 'no-store',
    });
    if (hsts) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    await next();
  };
}
