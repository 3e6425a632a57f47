import fs from 'node:fs';
import path from 'node:path';

/**
 * Temporal stays behind RefundWorkflowClient (src/temporal/refund-client.ts):
 * route handlers get outcomes from it and map them to HTTP answers. They never
 * import the SDK, the workflow's message definitions (Temporal updates and
 * queries), or reach for the client's Temporal `client`. Outages (unavailable,
 * deadline exceeded) are mapped once, at the API's edge (src/api/errors.ts).
 */
const root = path.resolve(__dirname, '..', '..', '..');
const routesDir = path.join(root, 'src', 'api', 'routes');
const routeFiles = fs.readdirSync(routesDir).filter((file) => file.endsWith('.ts'));

const FORBIDDEN = [
  { what: 'imports @temporalio', pattern: /(?:from\s+|import\s*\(\s*|require\s*\(\s*)['"]@temporalio\// },
  { what: 'imports the workflow code', pattern: /(?:from\s+|import\s*\(\s*|require\s*\(\s*)['"](?:\.\.\/)+workflows\// },
  { what: 'reaches into the Temporal client', pattern: /refundClient\s*\.\s*client\b|\.client\s*\.\s*(?:workflow|withDeadline|connection|schedule)\b/ },
];

function violationsIn(source: string): string[] {
  return FORBIDDEN.filter(({ pattern }) => pattern.test(source)).map(({ what }) => what);
}

describe('the API routes speak to Temporal only through RefundWorkflowClient', () => {
  test('there are route files to check', () => {
    expect(routeFiles).toEqual(expect.arrayContaining(['requests.ts', 'decisions.ts', 'loaders.ts']));
  });

  test.each(routeFiles)('src/api/routes/%s', (file) => {
    expect(violationsIn(fs.readFileSync(path.join(routesDir, file), 'utf8'))).toEqual([]);
  });

  test('the check recognises each way of breaking the rule', () => {
    expect(violationsIn("import { WorkflowNotFoundError } from '@temporalio/client';")).toEqual(['imports @temporalio']);
    expect(violationsIn("import type { WorkflowHandle } from '@temporalio/client';")).toEqual(['imports @temporalio']);
    expect(violationsIn("const { ApplicationFailure } = require('@temporalio/common');")).toEqual(['imports @temporalio']);
    expect(violationsIn("import { DECISION_ERRORS } from '../../../workflows/refund-messages';")).toEqual(['imports the workflow code']);
    expect(violationsIn('await services.refundClient.client.withDeadline(deadline, call);')).toEqual(['reaches into the Temporal client']);
    expect(violationsIn("import { apiError } from '../errors';\nawait services.refundClient.liveRefund(run);")).toEqual([]);
  });
});
