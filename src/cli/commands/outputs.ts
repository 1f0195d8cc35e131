import path from 'node:path';
import { formatBytes } from '../output.js';
import { stringOption, type Command, RUN_LOOKUP_TARGET_OPTION } from '../command.js';
import { EXIT } from '../exitCodes.js';
import { existsSync } from 'node:fs';
import type { RunRecord } from '../../records/record.js';
import { OutputsNotAvailableError } from '../../routines/results/errors.js';
import type { CliContext } from '../context.js';
import { executorOf, isSweepId, refreshRecords, resolveRun, sweepRuns } from '../runs.js';

export const outputsCommand: Command = {
  name: 'outputs',
  summary: "download a run's output folder (the files its job wrote to context.outputDir)",
  usage: 'ferry outputs <run id | sweep id> [--to <dir>]',
  description: `
Copies the run's output folder to this machine: from its container on the local engine or over the
target's SSH connection (through the Docker API, no remote shell), or from the records folder when
its container was removed. Files arrive in <dir>.partial-<random> first and the folder is renamed
to <dir> when complete: a cut download never leaves a folder that looks whole, and running the
command again completes it (removing the partial copy). <dir> must not exist yet.
For a sweep id, every run's outputs go to a folder of its own: <dir>/<run id> (default
./outputs/<sweep id>/<run id>); runs without outputs are skipped, and runs already downloaded there
are left as they are, so running it again completes a cut download.`,
  options: {
    target: RUN_LOOKUP_TARGET_OPTION,
    to: {
      type: 'string',
      value: 'dir',
      description: 'where the files go (default: ./outputs/<run id>)',
    },
  },
  examples: ['ferry outputs 3fa2c1', 'ferry outputs 3fa2c1 --to weights/'],
  minPositionals: 1,
  maxPositionals: 1,
  async run(context, args) {
    const id = args.positionals[0]!;
    if (isSweepId(id)) return downloadSweep(context, id, stringOption(args, 'to'));
    const record = await resolveRun(context, id, stringOption(args, 'target'));
    const dir = path.resolve(stringOption(args, 'to') ?? path.join('outputs', record.id));
    await download(context, record, dir);
    context.out(dir);
    return EXIT.ok;
  },
};

/** Every run's outputs of a sweep, each in `<to>/<run id>`. */
async function downloadSweep(
  context: CliContext,
  sweepId: string,
  to: string | undefined,
): Promise<number> {
  const root = path.resolve(to ?? path.join('outputs', sweepId));
  const runs = await refreshRecords(context, await sweepRuns(context, sweepId));
  let fetched = 0;
  for (const record of runs) {
    const dir = path.join(root, record.id);
    if (existsSync(dir)) continue;
    if (record.hasOutputs === false) continue;
    try {
      await download(context, record, dir);
      fetched += 1;
    } catch (error) {
      if (!(error instanceof OutputsNotAvailableError)) throw error;
      context.note(`ferry: run ${record.id} has no outputs folder; skipped`);
    }
  }
  context.note(`ferry: outputs of ${fetched} runs of ${sweepId} downloaded into ${root}`);
  context.out(root);
  return EXIT.ok;
}

async function download(context: CliContext, record: RunRecord, dir: string): Promise<void> {
  const run = await (await executorOf(context, record)).run(record.id);
  const downloaded = await run.downloadOutputs(dir, {
    onProgress: (p) =>
      context.progress.report({
        stage: 'outputs',
        message: `${p.files} files, ${formatBytes(p.bytes)}${p.file === undefined ? '' : ` (${p.file})`}`,
      }),
  });
  context.progress.clear();
  context.note(
    `ferry: ${downloaded.files} files (${formatBytes(downloaded.bytes)}) of run ${record.id} in ${downloaded.dir}`,
  );
}
