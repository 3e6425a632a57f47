import { ROUTES } from './route-table';

/**
 * Which path of the route table a request's path is, by the rule of OpenAPI that
 * the document promises: a concrete segment is matched before a templated one,
 * so /api/refunds/pro-rata/calculate is the calculate path and never a refund id.
 * Koa's router alone matches both; the endpoints (src/api/router.ts) and the
 * Allow header (src/api/app.ts) go by this instead. Matching is otherwise the
 * router's: case-insensitive, with an optional trailing slash.
 */

const TEMPLATES = [...new Set(Object.values(ROUTES).map((spec) => spec.path))].map((path) => ({ path, segments: segmentsOf(path) }));

export function routePathOf(requestPath: string): string | undefined {
  const segments = segmentsOf(requestPath);
  let best: (typeof TEMPLATES)[number] | undefined;
  for (const template of TEMPLATES) {
    if (matches(template.segments, segments) && (!best || moreConcrete(template.segments, best.segments))) best = template;
  }
  return best?.path;
}

/** The methods served at a request path (HEAD wherever GET is); none when it is no route's path. */
export function allowedMethodsAt(requestPath: string): string[] {
  const path = routePathOf(requestPath);
  const methods = Object.values(ROUTES)
    .filter((spec) => spec.path === path)
    .map((spec) => spec.method.toUpperCase());
  return methods.includes('GET') ? [...methods, 'HEAD'] : methods;
}

function segmentsOf(path: string): string[] {
  return (path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path).toLowerCase().split('/');
}

const isParameter = (segment: string) => segment.startsWith(':');

function matches(template: string[], segments: string[]): boolean {
  return template.length === segments.length && template.every((segment, index) => (isParameter(segment) ? segments[index] !== '' : segment === segments[index]));
}

/** At the first segment where one template is concrete and the other is not, the concrete one wins. */
function moreConcrete(candidate: string[], current: string[]): boolean {
  for (let index = 0; index < candidate.length; index++) {
    if (isParameter(candidate[index]!) !== isParameter(current[index]!)) return !isParameter(candidate[index]!);
  }
  return false;
}
