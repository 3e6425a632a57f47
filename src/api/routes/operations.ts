import { buildOpenApiDocument, type OpenApiDocument } from '../openapi';
import { checkHealth } from '../health';
import type { Handlers } from '../route-table';

let openApiDocument: OpenApiDocument | undefined;

/** Health, metrics and the API's own description: public, for operators and tooling. */
export const operationHandlers = {
  async getStatus(_input, services) {
    const health = await checkHealth(services);
    return { status: health.mongo.reachable && health.temporal.reachable ? 200 : 503, body: health };
  },

  async getMetrics(_input, services) {
    return { body: await services.metrics.registry.metrics() };
  },

  async getOpenApi() {
    openApiDocument ??= buildOpenApiDocument();
    return { body: openApiDocument };
  },
} satisfies Pick<Handlers, 'getStatus' | 'getMetrics' | 'getOpenApi'>;
