import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import mongoose from 'mongoose';
import { jsonRpc, ANVIL_CHAIN_ID } from '../../src/dev/services';
import { bundlerLogger } from '../support/logging';
import { testServices, uniqueMongoUri, uniqueName } from '../support/services';

describe('real local services', () => {
  let bundle: WorkflowBundleWithSourceMap;
  beforeAll(async () => {
    bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../support/workflows/echo'), logger: bundlerLogger });
  });

  test('a workflow round trip through the real Temporal dev server', async () => {
    const { temporalAddress } = testServices();
    const taskQueue = uniqueName('echo');
    const nativeConnection = await NativeConnection.connect({ address: temporalAddress });
    const worker = await Worker.create({
      connection: nativeConnection,
      taskQueue,
      workflowBundle: bundle,
      activities: { shout: async (message: string) => message.toUpperCase() },
    });
    const connection = await Connection.connect({ address: temporalAddress });
    const client = new Client({ connection });
    try {
      const result = await worker.runUntil(
        client.workflow.execute('echoWorkflow', { taskQueue, workflowId: uniqueName('echo'), args: ['refund'] }),
      );
      expect(result).toBe('REFUND');
    } finally {
      await connection.close();
      await nativeConnection.close();
    }
  });

  test('reads back what it writes on the real MongoDB-protocol server', async () => {
    const connection = await mongoose.createConnection(uniqueMongoUri('services')).asPromise();
    try {
      const collection = connection.db!.collection('roundtrip');
      await collection.insertOne({ refundId: 'r-1', amount: '115792089237316195423570985008687907853269984665640564039457584007913129639935' });
      const found = await collection.findOne({ refundId: 'r-1' });
      expect(found?.amount).toBe('115792089237316195423570985008687907853269984665640564039457584007913129639935');
      await connection.db!.dropDatabase();
    } finally {
      await connection.close();
    }
  });

  test('anvil answers eth_chainId', async () => {
    const chainId = await jsonRpc<string>(testServices().chainUrl, 'eth_chainId', []);
    expect(Number(chainId)).toBe(ANVIL_CHAIN_ID);
  });
});
