import path from 'node:path';
import { formatBytes } from '../output.js';
import { stringOption, type Command, RUN_LOOKUP_TARGET_OPTION } from '../command.js';
import { EXIT } from '../exitCodes.js';
import { executorOf, resolveRun } from '../runs.js';

export const outputsCommand: Command = {
  name: 'outputs',
  summary: "download a run's output folder (the files its job wrote to context.outputDir)",
  usage: 'ferry outputs <run id> [--to <dir>]',
  description: `
Copies the run's output folder to this machine: from its container on the local engine or over the
target's SSH connection (through the Docker API, no remote shell), or from the records folder when
its container was removed. Files arrive in <dir>.partial-<random> first and the folder is renamed
to <dir> when complete: a cut download never leaves a folder that looks whole, and running the
command again completes it (removing the partial copy). <dir> must not exist yet.`,
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
    const record = await resolveRun(context, args.positionals[0]!, stringOption(args, 'target'));
    const dir = path.resolve(stringOption(args, 'to') ?? path.join('outputs', record.id));
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
    context.out(downloaded.dir);
    return EXIT.ok;
  },
};
