import type { Subscription } from '../domain/subscription';
import type { Caller, Role } from './auth';
import type { ApiServices } from './context';
import { apiError } from './errors';
import { findSubscription, loadRefund, type LoadedRefund } from './routes/loaders';

/**
 * Who may do what: every rule of the API, in one place. Each route of the
 * route table takes one policy below (`...ACCESS.subscriberOrAdmin`), and the
 * router enforces it before the handler runs, in two steps:
 *
 * 1. `access`, the roles that may call the route at all (src/api/auth.ts says
 *    who the caller is): no or a bad token is 401, another role 403 FORBIDDEN.
 * 2. `ownership`, on every route open to users or creators: which of them may
 *    touch this subscription, refund or list. It is judged against the stored
 *    subscription or refund (or the id in a list's path), never against
 *    anything else the request carries. The router finds what the rule judges
 *    (404 when it does not exist), refuses a caller it does not allow (403
 *    FORBIDDEN), and hands it to the handler as `subject`: loaded once.
 *
 * | policy               | roles                | ownership                                   | routes |
 * |----------------------|----------------------|---------------------------------------------|--------|
 * | anyone               | no token             | –                                           | status, metrics, OpenAPI document |
 * | admin                | admin                | –                                           | approve, reject, retry, pending, statistics, trigger, search, sweep pause / unpause, console settings |
 * | subscriberOrAdmin    | user, admin          | the subscription's user                     | calculate, eligibility |
 * | subscriber           | user                 | the subscription's user                     | request a refund |
 * | refundPartyOrAdmin   | user, creator, admin | the refund's user or its creator            | read a refund |
 * | refundUser           | user                 | the refund's user                           | cancel |
 * | listedUserOrAdmin    | user, admin          | the user in the path is the caller          | a user's refunds |
 * | listedCreatorOrAdmin | creator, admin       | the creator in the path is the caller       | a creator's refunds |
 */

/** The ids a rule judges: a subscription's or refund's stored userId and creatorId, or the id in a list's path. */
export interface Owners {
  userId?: unknown;
  creatorId?: unknown;
}

/** What a rule judges, found: its owners, and the thing itself, opened once the caller is allowed (a malformed stored subscription is 422 then). */
export interface Owned<Subject> {
  owners: Owners;
  open: () => Subject;
}

/** The request's validated ids, as the router passes them. */
export interface RuleRequest {
  params: unknown;
  body: unknown;
}

export interface OwnershipRule<Subject> {
  /** The rule in words: the OpenAPI document's "Ownership:" sentence. */
  readonly description: string;
  /** The request field (path parameter or body field) that names what is judged. */
  readonly field: 'subscriptionId' | 'refundId' | 'userId' | 'creatorId';
  readonly find: (id: string, services: ApiServices) => Promise<Owned<Subject>>;
  readonly allows: (caller: Caller, owners: Owners) => boolean;
  /** The message of the 403. */
  readonly refusal: string;
}

export interface AccessPolicy {
  access: 'public' | readonly Role[];
  ownership?: OwnershipRule<unknown>;
}

type Party = (caller: Caller, owners: Owners) => boolean;

/** A user whose id is the owners' userId: the subscriber. */
const owningUser: Party = (caller, owners) => caller.role === 'user' && caller.sub === owners.userId;
/** A creator whose id is the owners' creatorId. */
const owningCreator: Party = (caller, owners) => caller.role === 'creator' && caller.sub === owners.creatorId;
const anyAdmin: Party = (caller) => caller.role === 'admin';
const anyOf =
  (...parties: Party[]): Party =>
  (caller, owners) =>
    parties.some((party) => party(caller, owners));

const rule = <Subject>(spec: OwnershipRule<Subject>): OwnershipRule<Subject> => spec;

const subscription = (id: string, services: ApiServices): Promise<Owned<Subscription>> => findSubscription(services, id);

async function refund(id: string, services: ApiServices): Promise<Owned<LoadedRefund>> {
  const loaded = await loadRefund(services, id);
  return { owners: { userId: loaded.refund.userId, creatorId: loaded.refund.creatorId }, open: () => loaded };
}

/** A list's path names its owner: nothing to load. */
const idInPath =
  (field: 'userId' | 'creatorId') =>
  async (id: string): Promise<Owned<undefined>> => ({ owners: { [field]: id }, open: () => undefined });

export const ACCESS = {
  anyone: { access: 'public' },
  admin: { access: ['admin'] },
  subscriberOrAdmin: {
    access: ['user', 'admin'],
    ownership: rule({
      field: 'subscriptionId',
      find: subscription,
      allows: anyOf(owningUser, anyAdmin),
      description: 'a user may only ask about their own subscription',
      refusal: 'this subscription is not yours',
    }),
  },
  subscriber: {
    access: ['user'],
    ownership: rule({
      field: 'subscriptionId',
      find: subscription,
      allows: owningUser,
      description: 'only the subscriber (the subscription\'s userId) may request its refund',
      refusal: 'this subscription is not yours',
    }),
  },
  refundPartyOrAdmin: {
    access: ['user', 'creator', 'admin'],
    ownership: rule({
      field: 'refundId',
      find: refund,
      allows: anyOf(owningUser, owningCreator, anyAdmin),
      description: 'the refund\'s user, the creator of its subscription, or an admin',
      refusal: 'this refund is not yours',
    }),
  },
  refundUser: {
    access: ['user'],
    ownership: rule({ field: 'refundId', find: refund, allows: owningUser, description: 'only the refund\'s user', refusal: 'this refund is not yours' }),
  },
  listedUserOrAdmin: {
    access: ['user', 'admin'],
    ownership: rule({
      field: 'userId',
      find: idInPath('userId'),
      allows: anyOf(owningUser, anyAdmin),
      description: 'a user may only list their own refunds',
      refusal: 'you may only list your own refunds',
    }),
  },
  listedCreatorOrAdmin: {
    access: ['creator', 'admin'],
    ownership: rule({
      field: 'creatorId',
      find: idInPath('creatorId'),
      allows: anyOf(owningCreator, anyAdmin),
      description: 'a creator may only list refunds against their own subscriptions',
      refusal: 'you may only list refunds against your own subscriptions',
    }),
  },
} as const satisfies Record<string, AccessPolicy>;

/** The role gate: 403 for a role the route is not open to. */
export function requireRole(caller: Caller, roles: readonly Role[]): void {
  if (!roles.includes(caller.role)) throw apiError('FORBIDDEN', `this needs the role ${roles.join(' or ')}`);
}

/** The ownership gate: finds what the rule judges (404), refuses a caller it does not allow (403), and opens it for the handler. */
export async function authorize<Subject>(rule: OwnershipRule<Subject>, caller: Caller | undefined, request: RuleRequest, services: ApiServices): Promise<Subject> {
  if (!caller) throw new Error('route table: an ownership rule on a public route');
  const owned = await rule.find(idIn(request, rule.field), services);
  if (!rule.allows(caller, owned.owners)) throw apiError('FORBIDDEN', rule.refusal);
  return owned.open();
}

function idIn(request: RuleRequest, field: OwnershipRule<unknown>['field']): string {
  const id = (request.params as Record<string, unknown> | undefined)?.[field] ?? (request.body as Record<string, unknown> | undefined)?.[field];
  if (typeof id !== 'string') throw new Error(`route table: the ownership rule judges ${field}, which the route does not validate`);
  return id;
}
