import { searchRefundIds } from '../../persistence/refund-search';
import type { Refund } from '../../domain/refund';
import { ownsOrAdmin } from '../auth';
import { apiError } from '../errors';
import type { Handlers } from '../route-table';

/** Lists read the store (the workflows' projection): `{ items, nextCursor }`, keyset-paginated. */
export const listHandlers = {
  async listUserRefunds({ params, query, caller }, services) {
    if (!ownsOrAdmin(caller, 'user', params.userId)) throw apiError('FORBIDDEN', 'you may only list your own refunds');
    return { body: await services.refunds.listByUser(params.userId, query) };
  },

  async listCreatorRefunds({ params, query, caller }, services) {
    if (!ownsOrAdmin(caller, 'creator', params.creatorId)) throw apiError('FORBIDDEN', 'you may only list refunds against your own subscriptions');
    return { body: await services.refunds.listByCreator(params.creatorId, query) };
  },

  async listPendingRefunds({ query }, services) {
    return { body: await services.refunds.listPending(query) };
  },

  async searchRefunds({ query }, services) {
    const { searchedBy, refundIds } = await searchRefundIds(services.mongo, query.q, SEARCH_LIMIT);
    const items = (await Promise.all(refundIds.map((refundId) => services.refunds.findById(refundId)))).filter((refund): refund is Refund => refund !== null);
    return { body: { query: query.q, searchedBy, items } };
  },
} satisfies Pick<Handlers, 'listUserRefunds' | 'listCreatorRefunds' | 'listPendingRefunds' | 'searchRefunds'>;

const SEARCH_LIMIT = 20;
