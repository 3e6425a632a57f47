import { bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import fs from 'node:fs';
import path from 'node:path';
import { WORKFLOWS_PATH } from '../../src/temporal/worker';
import { bundlerLogger } from './logging';

const FILE = 'workflows.js';

let bundle: Promise<WorkflowBundle> | undefined;

/**
 * The workflow code. Webpack takes seconds of CPU and about 100 MB of memory per bundle, so
 * `npm test`'s global setup bundles it once (writeWorkflowBundle) and every test file reads that
 * (TEST_WORKFLOW_BUNDLE_DIR); without it, as in the fast tier, each test file bundles it once.
 */
export function workflowBundle(): Promise<WorkflowBundle> {
  const dir = process.env.TEST_WORKFLOW_BUNDLE_DIR;
  bundle ??= dir ? fs.promises.readFile(path.join(dir, FILE), 'utf8').then((code) => ({ code })) : bundleWorkflows();
  return bundle;
}

/** Bundles the workflow code from the sources as they are now, into `dir`, for workflowBundle. */
export async function writeWorkflowBundle(dir: string): Promise<void> {
  const { code } = await bundleWorkflows();
  await fs.promises.writeFile(path.join(dir, FILE), code);
}

function bundleWorkflows(): Promise<WorkflowBundle> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: bundlerLogger });
}
