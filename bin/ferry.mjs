#!/usr/bin/env node
// The `ferry` command. Ferry's own modules are TypeScript (the package exports src/index.ts), and
// so is the job module a project's ferry.config.json names: tsx's ESM loader, registered here in
// this process, lets both load without a build step. (tsx is a runtime dependency for this reason.)
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
const { interruptIsHandled } = await import('../src/cli/context.ts');
const { exitWhenDrained } = await import('../src/entrypoint/exitWhenDrained.ts');

const interrupts = new AbortController();
let interruptCount = 0;
process.on('SIGINT', () => {
  interruptCount += 1;
  // The first Ctrl-C goes to a command that handles it (stop an attached job, detach from a run's
  // logs); otherwise, or on a second Ctrl-C, exit at once.
  if (interruptCount === 1 && interruptIsHandled()) {
    interrupts.abort();
    return;
  }
  process.stderr.write('\nferry: interrupted\n');
  // A reader that stopped reading must not keep an interrupted CLI alive.
  void exitWhenDrained(130, { withinMs: 1000 });
});

const code = await main(process.argv.slice(2), {}, interrupts.signal);
// Exit even when a connection (SSH keep-alive, Docker agent) would keep the event loop alive, but
// only once stdout and stderr are delivered (`ferry logs` of a long run writes megabytes to a pipe).
await exitWhenDrained(code);
