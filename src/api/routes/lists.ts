import { searchRefundIds } from '../../persistence/refund-search';
import type { Refund } from '../../domain/refund';
import type { Handlers } from '../route-table';

/**
 * Lists read the store (the workflows' projection): `{ items, nextCursor }`,
 * keyset-paginated. Who may list whose refunds is the router's (src/api/access.ts).
 */
export const listHandlers = {
  async listUserRefunds({ params, query }, services) {
    return { body: await services.refunds.listByUser(params.userId, query) };
  },

  async listCreatorRefunds({ params, query }, services) {
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
