import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from './errors';
import { REFUNDS_PREFIX } from './router';
import { IDEMPOTENCY_KEY_PATTERN } from './idempotency';
import { ROUTES, errorStatusesOf, takesIdempotencyKey, type RouteSpec } from './route-table';
import { components, RefundIdParams } from './schemas';

/**
 * The OpenAPI 3.1 document, generated from the route table and the zod schemas
 * that validate the requests: what is documented is what is enforced.
 */
export type OpenApiDocument = Record<string, unknown> & { openapi: string; paths: Record<string, Record<string, OpenApiOperation>> };
interface OpenApiOperation {
  operationId: string;
  responses: Record<string, unknown>;
  [field: string]: unknown;
}

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });

export function buildOpenApiDocument(version = '0.1.0'): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  for (const [operationId, spec] of Object.entries(ROUTES) as [string, RouteSpec][]) {
    const path = openApiPath(spec.path);
    paths[path] ??= {};
    paths[path][spec.method] = operation(operationId, spec);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Pro-rata refunds API',
      version,
      description:
        'Pro-rata refunds of on-chain subscriptions, orchestrated by Temporal. Amounts are integer strings in the token\'s smallest unit. ' +
        'Errors always have the shape { error: { code, message, details, requestId } }. POSTs accept an Idempotency-Key header.',
    },
    servers: [{ url: '/' }],
    tags: [
      { name: 'Refunds', description: `Refund routes (mounted at ${REFUNDS_PREFIX})` },
      { name: 'Operations', description: 'Health, metrics and this document' },
    ],
    paths,
    components: {
      schemas: schemaComponents(),
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'HS256 JWT with sub, role (user | creator | admin) and exp' } },
      headers: {
        'X-Request-Id': { description: 'the request id (echoed, or generated); quote it when reporting a problem', schema: { type: 'string' } },
      },
    },
    'x-error-codes': Object.fromEntries(Object.entries(ERROR_CODES).map(([code, { status, meaning }]) => [code, { status, meaning }])),
  };
}

function operation(operationId: string, spec: RouteSpec): OpenApiOperation {
  const parameters = [...parametersOf(spec.params, 'path'), ...parametersOf(spec.query, 'query')];
  if (takesIdempotencyKey(spec)) {
    parameters.push({
      name: 'Idempotency-Key',
      in: 'header',
      required: false,
      description: 'replays the first answer for the same key, caller, route and body for 24 hours; 1-255 visible ASCII characters',
      schema: { type: 'string', minLength: 1, maxLength: 255, pattern: IDEMPOTENCY_KEY_PATTERN.source },
    });
  }
  const access = spec.access === 'public' ? 'Public.' : `Roles: ${spec.access.join(', ')}.${spec.ownership ? ` Ownership: ${spec.ownership.description}.` : ''}`;
  return {
    operationId,
    tags: [spec.tag],
    summary: spec.summary,
    description: [spec.description, access].filter(Boolean).join('\n\n'),
    ...(spec.access === 'public' ? { security: [] } : { security: [{ bearerAuth: [] }] }),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(spec.body ? { requestBody: { required: isBodyRequired(spec.body), content: { 'application/json': { schema: schemaRef(spec.body, 'input') } } } } : {}),
    responses: responsesOf(spec),
    'x-roles': spec.access === 'public' ? [] : [...spec.access],
  };
}

function responsesOf(spec: RouteSpec): Record<string, unknown> {
  const success = spec.success.contentType === 'text/plain'
    ? { 'text/plain': { schema: { type: 'string' } } }
    : { 'application/json': { schema: spec.success.schema ? schemaRef(spec.success.schema, 'output') : { type: 'object' } } };
  const headers: Record<string, unknown> = { 'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' } };
  for (const [name, description] of Object.entries(spec.success.headers ?? {})) headers[name] = { description, required: true, schema: { type: 'string' } };
  const links = linksFrom(spec);
  const responses: Record<string, unknown> = {
    [String(spec.success.status)]: { description: spec.success.description, headers, content: success, ...(links ? { links } : {}) },
  };
  if (spec.path === '/api/status') {
    responses['503'] = { description: 'degraded: Temporal or MongoDB unreachable (same body shape)', content: success };
    return responses;
  }
  for (const status of errorStatusesOf(spec)) {
    const codes = (Object.keys(ERROR_CODES) as ErrorCode[]).filter((code) => ERROR_CODES[code].status === status);
    responses[String(status)] = { description: codes.join(', ') || 'error', content: { 'application/json': { schema: ref('Error') } } };
  }
  return responses;
}

/**
 * OpenAPI links, so clients and tools (schemathesis' stateful phase) can follow
 * a refund from the answer that introduces it to what can be done with it next:
 * create -> get -> approve, reject, cancel, retry.
 */
function linksFrom(spec: RouteSpec): Record<string, unknown> | undefined {
  if (!spec.links) return undefined;
  return Object.fromEntries(
    spec.links.map((operationId) => {
      const target = (ROUTES as Record<string, RouteSpec>)[operationId];
      if (target?.params !== RefundIdParams) throw new Error(`route table: a link leads to ${operationId}, which is not addressed by a refundId`);
      const description = `${target.method.toUpperCase()} ${openApiPath(target.path)} of this refund`;
      return [operationId, { operationId, parameters: { refundId: '$response.body#/refundId' }, description }];
    }),
  );
}

function openApiPath(koaPath: string): string {
  return koaPath.replace(/:([A-Za-z]+)/g, '{$1}');
}

function parametersOf(schema: z.ZodType | undefined, location: 'path' | 'query'): Record<string, unknown>[] {
  if (!schema) return [];
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return { name, in: location, required: location === 'path' || (json.required ?? []).includes(name), ...(description ? { description } : {}), schema: rest };
  });
}

function schemaRef(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const id = components.get(schema)?.id;
  return id ? ref(id) : stripDialect(z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>);
}

/** Every registered schema, as `components.schemas`; request shapes as accepted (input), responses as sent (output). */
function schemaComponents(): Record<string, unknown> {
  const uri = (id: string) => `#/components/schemas/${id}`;
  const inputs = z.toJSONSchema(components, { io: 'input', uri, unrepresentable: 'any' }).schemas;
  const outputs = z.toJSONSchema(components, { io: 'output', uri, unrepresentable: 'any' }).schemas;
  return Object.fromEntries(
    Object.keys(outputs).map((id) => [id, stripDialect((id.endsWith('Request') ? inputs[id] : outputs[id]) as Record<string, unknown>)]),
  );
}

function stripDialect(schema: Record<string, unknown>): Record<string, unknown> {
  const { $schema: _dialect, $id: _id, ...rest } = schema;
  return rest;
}

/** A request without a body is validated as `{}`: the body is required when `{}` is not enough. */
function isBodyRequired(schema: z.ZodType): boolean {
  return !schema.safeParse({}).success;
}
