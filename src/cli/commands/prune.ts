import type { PruneItem, PruneResult } from '../../routines/docker/dockerExecutor.js';
import { formatBytes } from '../../units.js';
import { flag, stringOption, type Command, type ParsedArgs } from '../command.js';
import { UsageError } from '../errors.js';
import { EXIT } from '../exitCodes.js';

export const pruneCommand: Command = {
  name: 'prune',
  summary: "remove this project's old images and ended runs' containers from a target",
  usage: 'ferry prune [-t <target>] [--keep N] [--dry-run] [--images] [--containers] [--force]',
  description: `
Removes, from one target's engine, the containers of this project's ended runs and its images,
found by Ferry's labels (ferry.job=<project>): nothing else on the engine is touched. Kept: the N
newest ended runs and the N newest images (--keep, default 3), running and queued runs, the image of
every run kept, and a run whose outputs were never downloaded (ferry outputs <id>) unless --force.
A removed run keeps its record and its logs (saved first): ferry ls, status and logs still show it.
--images or --containers prunes only those. --dry-run prints what would go, with sizes, and removes
nothing.`,
  options: {
    target: {
      type: 'string',
      short: 't',
      value: 'name',
      description: 'the target to prune (default: defaults.target)',
    },
    keep: {
      type: 'string',
      value: 'N',
      description: 'keep the N newest ended runs and the N newest images (default 3; 0 keeps none)',
    },
    'dry-run': { type: 'boolean', short: 'n', description: 'print what would go; remove nothing' },
    images: { type: 'boolean', description: 'prune images only' },
    containers: { type: 'boolean', description: "prune ended runs' containers only" },
    force: {
      type: 'boolean',
      short: 'f',
      description: 'remove runs whose outputs were never downloaded too (the outputs are lost)',
    },
  },
  examples: ['ferry prune --dry-run', 'ferry prune -t gpu-box --keep 1', 'ferry prune --images'],
  async run(context, args) {
    const keep = keepOption(args);
    const dryRun = flag(args, 'dry-run');
    const executor = await context.executor(stringOption(args, 'target'));
    const result = await executor.prune({
      ...(keep === undefined ? {} : { keep }),
      dryRun,
      ...(flag(args, 'images') ? { images: true } : {}),
      ...(flag(args, 'containers') ? { containers: true } : {}),
      force: flag(args, 'force'),
    });
    context.progress.clear();
    for (const line of pruneReport(result, `${executor.targetName} (${executor.location})`)) {
      context.out(line);
    }
    return result.failed.length > 0 ? EXIT.environment : EXIT.ok;
  },
};

function keepOption(args: ParsedArgs): number | undefined {
  const text = stringOption(args, 'keep');
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) {
    throw new UsageError(
      `prune: --keep expects a whole number (0 or more), got ${JSON.stringify(text)}`,
      'prune',
    );
  }
  return Number(text);
}

/** What `prune` did (or would do), one line a container or image, then a summary. */
export function pruneReport(result: PruneResult, where: string): string[] {
  const verb = result.dryRun ? 'would remove' : 'removed';
  const lines = [
    ...result.removed.map((item) => `${verb} ${describe(item)}`),
    ...result.failed.map((item) => `could not remove ${describe(item)}`),
    ...result.kept.map((item) => `kept ${describe(item)}`),
  ];
  const containers = result.removed.filter((i) => i.kind === 'container');
  const images = result.removed.filter((i) => i.kind === 'image');
  const total = (items: readonly PruneItem[]): string =>
    formatBytes(items.reduce((sum, i) => sum + i.size, 0));
  const summary =
    result.removed.length === 0
      ? `nothing to remove on ${where}`
      : `${verb} ${count(containers.length, 'container')} (${total(containers)}) and ${count(images.length, 'image')} (${total(images)}) on ${where}${images.length > 0 ? '; image sizes count layers kept images share' : ''}`;
  lines.push(result.dryRun ? `${summary} (dry run: nothing was removed)` : summary);
  return lines;
}

function describe(item: PruneItem): string {
  const what =
    item.kind === 'container'
      ? `container ${item.name}${item.runId === undefined ? '' : ` (run ${item.runId}${item.status === undefined ? '' : `, ${item.status}`})`}`
      : `image ${item.name} ${item.id.replace(/^sha256:/, '').slice(0, 12)}`;
  return `${what}, ${formatBytes(item.size)}${item.note === undefined ? '' : `: ${item.note}`}`;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
