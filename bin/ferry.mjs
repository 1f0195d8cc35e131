#!/usr/bin/env node
// The `ferry` command: Ferry's compiled JavaScript in dist/. A job module written in TypeScript is
// imported through tsx, registered only when a command loads one (src/config/importModule.ts), so
// `ferry --version` and `ferry ls` start without it. In a clone of Ferry whose dist/ is missing or
// older than a file under src/, the command runs the source through tsx instead, so that a stale
// build is never what runs (an installed package has no src/ and always runs dist/).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';

const ROOT = new URL('../', import.meta.url);
const TYPESCRIPT_LOADER_FLAG = Symbol.for('ferry.typescriptLoader');

/** True in a clone whose build is missing or older than its source. */
function mustRunSource() {
  const source = new URL('src/', ROOT);
  if (!existsSync(new URL('cli/main.ts', source))) return false;
  const stamp = new URL('dist/.build-stamp', ROOT);
  if (!existsSync(stamp)) return true;
  const built = statSync(stamp).mtimeMs;
  return readdirSync(source, { recursive: true }).some(
    (file) => statSync(new URL(String(file), source)).mtimeMs > built,
  );
}

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  process.stderr.write(
    `ferry: Node ${process.versions.node} is too old; Ferry needs Node 20.19 or later\n`,
  );
  process.exit(3);
}

// Answered here, before the CLI's modules load: the version is package.json's, the same that
// src/version.ts reads.
const [first] = process.argv.slice(2);
if (first === '--version' || first === '-V') {
  process.stdout.write(
    `${JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')).version}\n`,
  );
  process.exit(0);
}

let modules;
if (mustRunSource()) {
  const { register } = await import('tsx/esm/api');
  register();
  globalThis[TYPESCRIPT_LOADER_FLAG] = true;
  modules = [
    import('../src/cli/main.ts'),
    import('../src/cli/context.ts'),
    import('../src/entrypoint/exitWhenDrained.ts'),
  ];
} else {
  modules = [
    import('../dist/cli/main.js'),
    import('../dist/cli/context.js'),
    import('../dist/entrypoint/exitWhenDrained.js'),
  ];
}
const [{ main }, { interruptIsHandled }, { exitWhenDrained }] = await Promise.all(modules);

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
