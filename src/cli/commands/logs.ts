import type { JobRun, LogStream } from '../../routines/jobExecutor.js';
import {
  flag,
  intOption,
  type Command,
  stringOption,
  RUN_LOOKUP_TARGET_OPTION,
} from '../command.js';
import { UsageError } from '../errors.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exitCodes.js';
import { writeOrWait } from '../output.js';
import { executorOf, isSweepId, resolveRun, sweepRuns } from '../runs.js';

export const logsCommand: Command = {
  name: 'logs',
  summary: "print a run's output (stdout here, stderr to stderr); --follow to stream it",
  usage: 'ferry logs <run id | sweep id> [--follow]',
  description: `
A run id may be shortened to a unique prefix or to its random suffix. For a sweep, the logs are its
queue runner's (which run started when). Output saved when a container was removed (--rm) or of an
attached run is printed from the records folder.`,
  options: {
    target: RUN_LOOKUP_TARGET_OPTION,
    follow: {
      type: 'boolean',
      short: 'f',
      description: 'keep printing new lines until the run ends (Ctrl-C to stop)',
    },
    attempt: {
      type: 'string',
      value: 'n',
      description: 'the output of attempt n of a run that was retried (ferry status lists them)',
    },
  },
  minPositionals: 1,
  maxPositionals: 1,
  async run(context, args) {
    const id = args.positionals[0]!;
    const follow = flag(args, 'follow');
    let run: JobRun;
    if (isSweepId(id)) {
      const runs = await sweepRuns(context, id);
      run = await (await executorOf(context, runs[0]!)).sweepRunner(runs[0]!.sweepId!);
    } else {
      const record = await resolveRun(context, id, stringOption(args, 'target'));
      const attempt = intOption(args, 'attempt', 'logs');
      if (attempt !== undefined) {
        const logs = await (await context.records()).readAttemptLogs(record.id, attempt);
        if (logs === undefined) {
          throw new UsageError(
            `logs: run ${record.id} has no saved output for attempt ${attempt} (it had ${record.attempts?.length ?? 1} attempt(s); each one's output is kept once a retried run has ended)`,
            'logs',
          );
        }
        context.io.stdout.write(logs.stdout);
        context.io.stderr.write(logs.stderr);
        return EXIT.ok;
      }
      run = await (await executorOf(context, record)).run(record.id);
    }
    if (!follow) {
      const logs = await run.getLogs();
      context.io.stdout.write(logs.stdout);
      context.io.stderr.write(logs.stderr);
      return EXIT.ok;
    }
    return followLines(context, run);
  },
};

async function followLines(context: CliContext, run: JobRun): Promise<number> {
  const stop = new AbortController();
  let interrupted = false;
  const unregister = context.onInterrupt(() => {
    interrupted = true;
    stop.abort();
  });
  try {
    await run.followLogs({
      onLine: (line: string, stream: LogStream) =>
        writeOrWait(stream === 'stdout' ? context.io.stdout : context.io.stderr, `${line}\n`),
      signal: stop.signal,
    });
  } finally {
    unregister();
  }
  return interrupted ? EXIT.interrupted : EXIT.ok;
}
