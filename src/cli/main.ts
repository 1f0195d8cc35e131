/**
 * `ferry`: the command line. `main(argv)` parses the command and its flags (`node:util` parseArgs),
 * runs it, and turns the outcome into an exit code (see `exitCodes.ts`). Errors Ferry raises on
 * purpose (`FerryError`) are printed as one clear message; anything else is a bug and prints its stack.
 */
import { closest } from '../config/validate.js';
import { ferryVersion } from '../version.js';
import { commandHelp, parseCommandArgs, type Command } from './command.js';
import { buildCommand } from './commands/build.js';
import { getCommand } from './commands/get.js';
import { initCommand } from './commands/init.js';
import { logsCommand } from './commands/logs.js';
import { lsCommand } from './commands/ls.js';
import { packageCommand } from './commands/package.js';
import { rmCommand } from './commands/rm.js';
import { runCommand } from './commands/run.js';
import { statusCommand } from './commands/status.js';
import { stopCommand } from './commands/stop.js';
import { sweepCommand } from './commands/sweep.js';
import { CliContext, type CliEnvironment } from './context.js';
import { UsageError } from './errors.js';
import { EXIT, exitCodeOf } from './exitCodes.js';

export const COMMANDS: readonly Command[] = [
  initCommand,
  packageCommand,
  buildCommand,
  runCommand,
  sweepCommand,
  logsCommand,
  statusCommand,
  lsCommand,
  stopCommand,
  rmCommand,
  getCommand,
];

export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return `Usage: ferry <command> [options]

Ferry packages a configured job object with its exact source, builds it into a Docker image and
runs it attached (this process), on the local Docker engine, or on a remote host over SSH.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join('\n')}

Global options:
  -c, --config <file>  the config file (default: ferry.config.json here or in a folder above)
  -q, --quiet          no progress display
  -h, --help           help (also: ferry <command> --help, ferry help <command>)
  -V, --version        Ferry's version

Exit codes:
  0    success
  1    the job failed (non-zero exit or stopped), or some runs of a sweep did
  2    usage or configuration error (bad flag, bad config key, unknown run id, bad parameters)
  3    environment problem (Docker, SSH, registry or GPUs unavailable; an image build failed)
  70   a bug in Ferry (an unexpected error; its stack is printed)
  130  interrupted (Ctrl-C); detached runs and sweep queues go on without the CLI
`;
}

/** Runs the CLI with these arguments; resolves to the exit code. */
export async function main(
  argv: readonly string[],
  io: Partial<CliEnvironment> = {},
  interrupted: AbortSignal = new AbortController().signal,
): Promise<number> {
  const env: CliEnvironment = {
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    cwd: io.cwd ?? process.cwd(),
    env: io.env ?? process.env,
  };
  const [first, ...rest] = argv;
  if (first === undefined) {
    env.stderr.write(mainHelp());
    return EXIT.usage;
  }
  if (first === '--help' || first === '-h') {
    env.stdout.write(mainHelp());
    return EXIT.ok;
  }
  if (first === '--version' || first === '-V') {
    env.stdout.write(`${ferryVersion}\n`);
    return EXIT.ok;
  }
  let context: CliContext | undefined;
  try {
    if (first === 'help') {
      const named = rest[0];
      if (named === undefined) {
        env.stdout.write(mainHelp());
        return EXIT.ok;
      }
      env.stdout.write(commandHelp(findCommand(named)));
      return EXIT.ok;
    }
    const command = findCommand(first);
    const args = parseCommandArgs(command, rest);
    if (args.values.help === true) {
      env.stdout.write(commandHelp(command));
      return EXIT.ok;
    }
    const config = args.values.config;
    context = new CliContext(
      env,
      { ...(typeof config === 'string' ? { config } : {}), quiet: args.values.quiet === true },
      interrupted,
    );
    return await command.run(context, args);
  } catch (error) {
    context?.progress.clear();
    return reportError(env, error);
  } finally {
    await context?.close();
  }
}

function findCommand(name: string): Command {
  const command = COMMANDS.find((c) => c.name === name);
  if (command !== undefined) return command;
  const hint = closest(
    name,
    COMMANDS.map((c) => c.name),
  );
  throw new UsageError(
    `unknown command ${JSON.stringify(name)}${hint === undefined ? '' : ` (did you mean "${hint}"?)`}; commands: ${COMMANDS.map((c) => c.name).join(', ')}`,
  );
}

/** Prints an error the way its kind deserves; returns the exit code. */
export function reportError(env: Pick<CliEnvironment, 'stderr'>, error: unknown): number {
  const code = exitCodeOf(error);
  if (code === EXIT.bug) {
    const text =
      error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
    env.stderr.write(
      `ferry: internal error (a bug in Ferry; please report it with the lines below):\n${text}\n`,
    );
    return code;
  }
  const message = (error as Error).message;
  env.stderr.write(`ferry: error: ${message}\n`);
  if (error instanceof UsageError) {
    env.stderr.write(
      `Run 'ferry ${error.command === undefined ? '--help' : `${error.command} --help`}' for usage.\n`,
    );
  }
  return code;
}
