import type { Handlers } from '../route-table';
import { adminHandlers } from './admin';
import { decisionHandlers } from './decisions';
import { listHandlers } from './lists';
import { operationHandlers } from './operations';
import { previewHandlers } from './previews';
import { requestHandlers } from './requests';

/** The handler of every operation of the route table; the type makes a missing one a compile error. */
export const handlers: Handlers = {
  ...previewHandlers,
  ...requestHandlers,
  ...decisionHandlers,
  ...listHandlers,
  ...adminHandlers,
  ...operationHandlers,
};
