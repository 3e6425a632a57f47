import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { OpenApiDocument } from '../../../src/api/openapi';
import type { ApiResponse } from './http';

/**
 * Checks answers against the OpenAPI document the API serves, the way a client
 * generated from it (or schemathesis) reads it: the status must be documented
 * for the operation, and the body must validate against that status's schema.
 */
export function openApiContract(document: OpenApiDocument) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'openapi.json', components: document.components });
  const compiled = new Map<string, ValidateFunction>();

  const validator = (schema: Record<string, unknown>): ValidateFunction => {
    const key = JSON.stringify(schema);
    let validate = compiled.get(key);
    if (!validate) {
      // Refs are relative to the document: resolve them against the schema registered above.
      validate = ajv.compile(JSON.parse(key.replaceAll('"#/components/', '"openapi.json#/components/')) as Record<string, unknown>);
      compiled.set(key, validate);
    }
    return validate;
  };

  function operation(method: string, path: string) {
    const found = document.paths[path]?.[method.toLowerCase()];
    if (!found) throw new Error(`the document has no ${method} ${path}`);
    return found;
  }

  return {
    document,
    operation,

    /** Problems of `response` as an answer of `method path` (a path template, `{refundId}`); empty when it keeps the contract. */
    problems(method: string, path: string, response: Pick<ApiResponse, 'status' | 'body'>): string[] {
      const documented = operation(method, path).responses[String(response.status)] as { content?: Record<string, { schema: Record<string, unknown> }> } | undefined;
      if (!documented) return [`${method} ${path} answered ${response.status}, which its operation does not document`];
      const schema = documented.content?.['application/json']?.schema;
      if (!schema) return [];
      const validate = validator(schema);
      if (validate(response.body)) return [];
      return (validate.errors ?? []).map((error) => `${response.status} body ${error.instancePath || '/'} ${error.message} ${JSON.stringify(error.params)}`);
    },

    /** Whether `value` is valid for a schema of the document (refs resolved against it). */
    validates(schema: Record<string, unknown>, value: unknown): boolean {
      return validator(schema)(value);
    },

    /** Whether `value` is valid for the documented schema of a parameter (`in`: path, query or header). */
    acceptsParameter(method: string, path: string, location: 'path' | 'query' | 'header', name: string, value: string): boolean {
      const parameters = (operation(method, path).parameters ?? []) as { name: string; in: string; schema: Record<string, unknown> }[];
      const parameter = parameters.find((candidate) => candidate.in === location && candidate.name.toLowerCase() === name.toLowerCase());
      if (!parameter) throw new Error(`${method} ${path} documents no ${location} parameter ${name}`);
      return validator(parameter.schema)(value);
    },
  };
}

export type OpenApiContract = ReturnType<typeof openApiContract>;
