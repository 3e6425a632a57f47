import { z } from 'zod';
import { ACCESS, authorize, requireRole, type AccessPolicy, type Owners } from '../../../src/api/access';
import type { Caller } from '../../../src/api/auth';
import type { ApiServices } from '../../../src/api/context';
import { ApiError } from '../../../src/api/errors';
import { buildOpenApiDocument } from '../../../src/api/openapi';
import { ROUTES, type RouteSpec } from '../../../src/api/route-table';

/**
 * The rules of src/api/access.ts on their own: who each ownership rule lets
 * through, and that the route table uses them in a way the router can enforce.
 * The HTTP answers for every route and caller are test/api/auth-matrix.test.ts.
 */
const OWNERS: Owners = { userId: 'user-1', creatorId: 'creator-1' };
const CALLERS = {
  owningUser: { sub: 'user-1', role: 'user' },
  otherUser: { sub: 'user-2', role: 'user' },
  owningCreator: { sub: 'creator-1', role: 'creator' },
  otherCreator: { sub: 'creator-2', role: 'creator' },
  // Ids are compared with the role: a creator whose id happens to be the user's is not the user.
  creatorNamedLikeTheUser: { sub: 'user-1', role: 'creator' },
  admin: { sub: 'admin-1', role: 'admin' },
} as const satisfies Record<string, Caller>;
type CallerName = keyof typeof CALLERS;

const POLICIES = ACCESS as Record<string, AccessPolicy>;
const routes = Object.entries(ROUTES) as [string, RouteSpec][];

describe('ownership rules', () => {
  const cases: [string, CallerName[]][] = [
    ['subscriberOrAdmin', ['owningUser', 'admin']],
    ['subscriber', ['owningUser']],
    ['refundPartyOrAdmin', ['owningUser', 'owningCreator', 'admin']],
    ['refundUser', ['owningUser']],
    ['listedUserOrAdmin', ['owningUser', 'admin']],
    ['listedCreatorOrAdmin', ['owningCreator', 'admin']],
  ];

  test.each(cases)('%s lets through exactly %j', (policy, allowed) => {
    const rule = POLICIES[policy]!.ownership!;
    const through = (Object.keys(CALLERS) as CallerName[]).filter((name) => rule.allows(CALLERS[name], OWNERS));
    expect(through).toEqual(allowed);
  });

  test('every policy with a rule is listed above; those without one are the public and the admin-only', () => {
    const withRule = Object.keys(POLICIES).filter((policy) => POLICIES[policy]!.ownership);
    expect(withRule.sort()).toEqual(cases.map(([policy]) => policy).sort());
    expect(Object.keys(POLICIES).filter((policy) => !POLICIES[policy]!.ownership)).toEqual(['anyone', 'admin']);
    expect(ACCESS.admin.access).toEqual(['admin']);
  });

  test('no rule lets through a caller without the ids it judges', () => {
    for (const [policy] of cases) {
      const rule = POLICIES[policy]!.ownership!;
      for (const name of ['owningUser', 'owningCreator', 'otherUser'] as const) expect(rule.allows(CALLERS[name], {})).toBe(false);
    }
  });
});

describe('the route table uses the rules so the router can enforce them', () => {
  test('every route open to users or creators has an ownership rule; only admins see everything', () => {
    const unscoped = routes.filter(([, spec]) => spec.access !== 'public' && spec.access.some((role) => role !== 'admin') && !spec.ownership).map(([id]) => id);
    expect(unscoped).toEqual([]);
  });

  test('no public route has an ownership rule', () => {
    expect(routes.filter(([, spec]) => spec.access === 'public' && spec.ownership).map(([id]) => id)).toEqual([]);
  });

  test.each(routes.filter(([, spec]) => spec.ownership))('%s validates the id its rule judges, in its path or body', (_id, spec) => {
    const field = spec.ownership!.field;
    const validates = (schema: z.ZodType | undefined) => schema instanceof z.ZodObject && field in schema.shape;
    expect(validates(spec.params) || validates(spec.body)).toBe(true);
  });

  test('each route takes its policy whole: roles and rule come from the same entry of ACCESS', () => {
    for (const [id, spec] of routes) {
      const policy = Object.values(POLICIES).find((candidate) => candidate.ownership === spec.ownership && candidate.access === spec.access);
      expect({ id, policy: policy !== undefined }).toEqual({ id, policy: true });
    }
  });

  test('the OpenAPI document states each rule in words', () => {
    const document = buildOpenApiDocument();
    for (const [id, spec] of routes.filter(([, candidate]) => candidate.ownership)) {
      const operation = Object.values(document.paths).flatMap((methods) => Object.values(methods)).find((candidate) => candidate.operationId === id)!;
      expect(operation.description).toContain(`Ownership: ${spec.ownership!.description}.`);
    }
  });
});

describe('the gates', () => {
  const services = {} as ApiServices; // the list rules judge the id in the path: nothing is loaded
  const forbidden = (message: string) => expect.objectContaining({ status: 403, code: 'FORBIDDEN', message });

  test('the role gate refuses another role with 403', () => {
    expect(() => requireRole(CALLERS.owningCreator, ['user', 'admin'])).toThrow(ApiError);
    expect(() => requireRole(CALLERS.owningCreator, ['user', 'admin'])).toThrow(forbidden('this needs the role user or admin'));
    expect(() => requireRole(CALLERS.admin, ['user', 'admin'])).not.toThrow();
  });

  test('authorize refuses a caller the rule does not allow, with the rule\'s message, and lets the owner and admins through', async () => {
    const rule = ACCESS.listedUserOrAdmin.ownership;
    const request = { params: { userId: 'user-1' }, body: {} };
    await expect(authorize(rule, CALLERS.otherUser, request, services)).rejects.toEqual(forbidden('you may only list your own refunds'));
    await expect(authorize(rule, CALLERS.owningUser, request, services)).resolves.toBeUndefined();
    await expect(authorize(rule, CALLERS.admin, request, services)).resolves.toBeUndefined();
  });

  test('a rule put on a route that does not carry its id, or on a public route, is a programming error, not a 403', async () => {
    const rule = ACCESS.listedCreatorOrAdmin.ownership;
    await expect(authorize(rule, CALLERS.owningCreator, { params: { userId: 'creator-1' }, body: {} }, services)).rejects.toThrow(/judges creatorId/);
    await expect(authorize(rule, undefined, { params: { creatorId: 'creator-1' }, body: {} }, services)).rejects.toThrow(/public route/);
  });
});
