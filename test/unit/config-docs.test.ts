import { outdatedDocs } from '../../src/cli/config-docs';
import { renderReadmeTable } from '../../src/config/env-docs';
import { envSchema } from '../../src/config/schema';

describe('configuration docs are generated from the config schema', () => {
  test('README, the deployment guide and .env.example are what `npm run docs:config` writes', () => {
    expect(outdatedDocs()).toEqual([]);
  });

  test('the generated table names every variable of the schema once', () => {
    const listed = [...renderReadmeTable().matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((match) => match[1]);
    expect(listed).toEqual(Object.keys(envSchema.shape));
  });
});
