/**
 * `npm run <command>` lands here (through src/dev/bootstrap.cjs, which installs
 * node_modules first). One file per command; this only dispatches.
 */
const commands: Record<string, { describe: string; load: () => Promise<{ run(args: string[]): Promise<number | void> }> }> = {
  services: { describe: 'only the local services on their default ports', load: () => import('./services') },
  test: { describe: 'type-check, then the whole test suite against real local services', load: () => import('./test') },
  migrate: { describe: 'create indexes and backfill subscriptions (idempotent)', load: () => import('./migrate') },
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
