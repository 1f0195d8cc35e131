/**
 * `ferry`: the command line. `main(argv)` parses the command and its flags (`node:util` parseArgs),
 * runs it, and turns the outcome into an exit code (see `exitCodes.ts`). Errors Ferry raises on
 * purpose (`FerryError`) are printed as one clear message; anything else is a bug and prints its stack.
 */
import { closest } from '../validation/issues.js';
import { ferryVersion } from '../version.js';
import { commandHelp, parseCommandArgs, type Command } from './command.js';
import { CliContext, type CliEnvironment } from './context.js';
import { UsageError } from './errors.js';
import { EXIT, exitCodeOf } from './exitCodes.js';

/**
 * The commands, loaded when used: `ferry ls` does not load esbuild, the image builder or the
 * executors. The summary here is the one `ferry --help` shows.
 */
export const COMMANDS: readonly {
  readonly name: string;
  readonly summary: string;
  load(): Promise<Command>;
}[] = [
  {
    name: 'init',
    summary: 'create a project: an example job, ferry.config.json and a test',
    load: async () => (await import('./commands/init.js')).initCommand,
  },
  {
    name: 'package',
    summary: 'package the job with its exact source into a .tar.gz',
    load: async () => (await import('./commands/package.js')).packageCommand,
  },
  {
    name: 'build',
    summary: "build the job's image (and ship it to a remote target)",
    load: async () => (await import('./commands/build.js')).buildCommand,
  },
  {
    name: 'run',
    summary: 'run the job attached, on the local Docker engine, or on a remote target',
    load: async () => (await import('./commands/run.js')).runCommand,
  },
  {
    name: 'sweep',
    summary: 'run the job many times with different parameters: one image, a queue on the target',
    load: async () => (await import('./commands/sweep.js')).sweepCommand,
  },
  {
    name: 'logs',
    summary: "print a run's output (stdout here, stderr to stderr); --follow to stream it",
    load: async () => (await import('./commands/logs.js')).logsCommand,
  },
  {
    name: 'status',
    summary: 'show a run (or a sweep): status, exit code, times, parameters, image, package',
    load: async () => (await import('./commands/status.js')).statusCommand,
  },
  {
    name: 'ls',
    summary: 'list runs: id, target, status, exit code, times, sweep, parameters, metrics',
    load: async () => (await import('./commands/ls.js')).lsCommand,
  },
  {
    name: 'stop',
    summary: 'stop runs (SIGTERM, then SIGKILL after 10 s); a sweep id stops its queue and runs',
    load: async () => (await import('./commands/stop.js')).stopCommand,
  },
  {
    name: 'rm',
    summary: 'remove runs: their containers, records and saved logs (a sweep id: all its runs)',
    load: async () => (await import('./commands/rm.js')).rmCommand,
  },
  {
    name: 'result',
    summary: "print what a run's run() returned (or write its serialized form to a file)",
    load: async () => (await import('./commands/result.js')).resultCommand,
  },
  {
    name: 'outputs',
    summary: "download a run's output folder (the files its job wrote to context.outputDir)",
    load: async () => (await import('./commands/outputs.js')).outputsCommand,
  },
  {
    name: 'prune',
    summary: "remove this project's old images and ended runs' containers from a target",
    load: async () => (await import('./commands/prune.js')).pruneCommand,
  },
  {
    name: 'get',
    summary: 'fetch the exact package (.tar.gz) a run used',
    load: async () => (await import('./commands/get.js')).getCommand,
  },
  {
    name: 'ui',
    summary: "a local web page of the project's runs: live logs, metrics charts, sweeps",
    load: async () => (await import('./commands/ui.js')).uiCommand,
  },
  {
    name: 'config',
    summary:
      'print the resolved config as JSON: defaults filled in, paths absolute, secrets by name',
    load: async () => (await import('./commands/config.js')).configCommand,
  },
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
      env.stdout.write(commandHelp(await findCommand(named)));
      return EXIT.ok;
    }
    const command = await findCommand(first);
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

async function findCommand(name: string): Promise<Command> {
  const command = COMMANDS.find((c) => c.name === name);
  if (command !== undefined) return command.load();
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
