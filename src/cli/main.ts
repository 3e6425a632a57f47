/**
 * `npm run <command>` lands here (through src/dev/bootstrap.cjs, which installs
 * node_modules first). One file per command; this only dispatches.
 */
const commands: Record<string, { describe: string; load: () => Promise<{ run(args: string[]): Promise<number | void> }> }> = {
  dev: { describe: 'local services + worker + API, the whole product on this machine', load: () => import('./dev') },
  services: { describe: 'only the local services on their default ports', load: () => import('./services') },
  test: { describe: 'type-check, then the whole test suite against real local services', load: () => import('./test') },
  migrate: { describe: 'create indexes and backfill subscriptions (idempotent)', load: () => import('./migrate') },
  token: { describe: 'mint a local API token: --sub <id> --role <user|creator|admin> [--ttl 1h]', load: () => import('./token') },
  smoke: { describe: 'smoke-check a running deployment: --url <base> | --env=<name> [--token <admin JWT>]', load: () => import('./smoke') },
  load: { describe: 'load-test a running deployment: [--url <base>] [--duration=10m] [--rate=100] [--connections N]', load: () => import('./load') },
  chaos: { describe: 'the fault campaign: refunds under kill -9, store and Temporal crashes, a frozen chain, failing receivers; exit 1 on any loss [--quick] [--refunds N] [--seed N]', load: () => import('./chaos') },
  reconcile: { describe: 'prove the books: record = workflow = chain for every refund, every treasury outflow signed by us [--since <date>] [--json]', load: () => import('./reconcile') },
  'docs:config': { describe: 'write the configuration tables and .env.example from the config schema (--check: only compare)', load: () => import('./config-docs') },
  contract: { describe: 'schemathesis against a local stack: the server keeps its OpenAPI contract [--max-examples N] [--seed N] [--only user,creator,admin,lifecycle]', load: () => import('./contract') },
  bench: { describe: 'benchmarks: pro-rata computation, memory per breakdown, API read latency on a local stack', load: () => import('./bench') },
};

async function main(): Promise<void> {
  const [name, ...args] = process.argv.slice(2);
  const command = name ? commands[name] : undefined;
  if (!command) {
    console.log('Usage: npm run <command>\n');
    for (const [commandName, { describe }] of Object.entries(commands)) console.log(`  ${commandName.padEnd(10)} ${describe}`);
    process.exitCode = name && name !== 'help' ? 64 : 0;
    return;
  }
  const module = await command.load();
  const code = await module.run(args);
  if (typeof code === 'number') process.exitCode = code;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
