import type { JobRun, LineEnding, LogStream, LogWindow } from '../../routines/jobExecutor.js';
import { replayLogs } from '../../routines/recordedRun.js';
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
import { logWindowFromArgs } from '../logWindow.js';
import { executorOf, isSweepId, resolveRun, sweepRuns } from '../runs.js';

export const logsCommand: Command = {
  name: 'logs',
  summary: "print a run's output (stdout here, stderr to stderr); --follow to stream it",
  usage: 'ferry logs <run id | sweep id> [--follow] [--tail N] [--since T]',
  description: `
A run id may be shortened to a unique prefix or to its random suffix. For a sweep, the logs are its
queue runner's (which run started when). Output saved when a container was removed (--rm) or of an
attached run is printed from the records folder. --tail and --since pick the end of the logs: on
the engine, the last N lines of both streams together; for saved output, the last N of each.
A job's progress bar redrawn with carriage returns is shown live on a terminal, and as one line per
redraw when the output is a pipe or a file.`,
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
    tail: {
      type: 'string',
      short: 'n',
      value: 'N',
      description: 'only the last N lines (then new ones, with --follow)',
    },
    since: {
      type: 'string',
      value: 'T',
      description:
        'only lines written since T: a duration back from now (10m, 1h30m, 2d) or a time (2026-12-01T18:30:00Z)',
    },
  },
  examples: [
    'ferry logs -f 3fa2c1',
    'ferry logs --tail 20 3fa2c1',
    'ferry logs --since 10m -f 3fa2c1',
  ],
  minPositionals: 1,
  maxPositionals: 1,
  async run(context, args) {
    const id = args.positionals[0]!;
    const follow = flag(args, 'follow');
    const window = logWindowFromArgs(args);
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
      await replayLogs(await run.getLogs(window), {
        onLine: (line, stream) => context.logLine(line, stream),
      });
      context.progress.endOpenLine();
      return EXIT.ok;
    }
    return followLines(context, run, window);
  },
};

async function followLines(context: CliContext, run: JobRun, window: LogWindow): Promise<number> {
  const stop = new AbortController();
  let interrupted = false;
  const unregister = context.onInterrupt(() => {
    interrupted = true;
    stop.abort();
  });
  try {
    await run.followLogs({
      ...window,
      onLine: (line: string, stream: LogStream, ending?: LineEnding) =>
        context.logLine(line, stream, ending),
      signal: stop.signal,
    });
  } finally {
    unregister();
  }
  context.progress.endOpenLine();
  return interrupted ? EXIT.interrupted : EXIT.ok;
}
