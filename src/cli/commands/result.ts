import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { inspect } from 'node:util';
import { isFinal } from '../../records/record.js';
import { flag, stringOption, type Command, RUN_LOOKUP_TARGET_OPTION } from '../command.js';
import { UsageError } from '../errors.js';
import { EXIT } from '../exitCodes.js';
import { executorOf, refreshRecords, resolveRun } from '../runs.js';

export const resultCommand: Command = {
  name: 'result',
  summary: "print what a run's run() returned (or write its serialized form to a file)",
  usage: 'ferry result <run id> [--out <file>] [--bind package] [--wait]',
  description: `
Fetches the result a run left (from its container, local or over SSH, or from the records folder
when its container was removed) and prints it rebuilt as live objects, as util.inspect shows them;
its classes are bound to the project's current source (--bind package: to the run's own package).
--out writes the serialized form instead: the serializer's JSON document to <file> and, when the
result holds binary data (typed arrays, Buffers), its side-car bytes to <file>.bin.
A run that failed, was stopped, or returned a value that could not be serialized has no result:
exit code 1, with the reason. A run still queued or running is refused unless --wait.`,
  options: {
    target: RUN_LOOKUP_TARGET_OPTION,
    out: {
      type: 'string',
      short: 'o',
      value: 'file',
      description: 'write the serialized result (JSON document, side-car bytes in <file>.bin)',
    },
    bind: {
      type: 'string',
      value: 'source|package',
      description: "whose classes the result's instances get (default: source)",
    },
    wait: { type: 'boolean', short: 'w', description: 'wait for a running run to end' },
  },
  examples: ['ferry result 3fa2c1', 'ferry result 3fa2c1 --out result.json'],
  minPositionals: 1,
  maxPositionals: 1,
  async run(context, args) {
    const bind = stringOption(args, 'bind') ?? 'source';
    if (bind !== 'source' && bind !== 'package') {
      throw new UsageError(
        `result: --bind must be source or package, not ${JSON.stringify(bind)}`,
        'result',
      );
    }
    const [record] = await refreshRecords(context, [
      await resolveRun(context, args.positionals[0]!, stringOption(args, 'target')),
    ]);
    if (!isFinal(record!.status) && record!.status !== 'unknown' && !flag(args, 'wait')) {
      throw new UsageError(
        `result: run ${record!.id} is ${record!.status}; its result comes once it ended (add --wait to wait for it)`,
        'result',
      );
    }
    const run = await (await executorOf(context, record!)).run(record!.id);
    const out = stringOption(args, 'out');
    if (out !== undefined) {
      const { document, blobs } = await run.serializedResult();
      const file = path.resolve(out);
      await writeFile(file, `${JSON.stringify(document)}\n`);
      if (blobs.length > 0) await writeFile(`${file}.bin`, blobs);
      context.note(
        `ferry: wrote the result of ${record!.id} to ${file}${blobs.length > 0 ? ` (and ${blobs.length} bytes to ${file}.bin)` : ''}`,
      );
      return EXIT.ok;
    }
    const value = await run.result({ bind });
    context.out(
      inspect(value, { depth: 6, maxArrayLength: 20, maxStringLength: 2000, breakLength: 100 }),
    );
    return EXIT.ok;
  },
};
