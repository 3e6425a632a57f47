/** Every workflow the worker runs. */
export { proRataRefundWorkflow } from './refund-workflow';
export { refundSweepWorkflow } from './sweep-workflow';
