import { stringOption, flag, type Command } from '../command.js';
import { EXIT } from '../exitCodes.js';

export const buildCommand: Command = {
  name: 'build',
  summary: "build the job's image (and ship it to a remote target)",
  usage: 'ferry build [--target <name>] [--json]',
  description: `
Packages the job and builds its image on the local Docker engine; an image with the same content is
reused, not rebuilt. For a remote target the image is then shipped there: through the target's
registry when it has a repository, else over SSH with only the layers the remote lacks. Prints the
image reference.`,
  options: {
    target: {
      type: 'string',
      short: 't',
      value: 'name',
      description: 'the target to build for (default: defaults.target; attached needs no image)',
    },
    json: { type: 'boolean', description: 'print the image and shipping details as JSON' },
  },
  async run(context, args) {
    const executor = await context.executor(stringOption(args, 'target'));
    await context.job();
    const prepared = await executor.prepare();
    const target = { name: executor.targetName };
    context.progress.clear();
    if (flag(args, 'json')) {
      context.out(
        JSON.stringify(
          {
            reference: prepared.shipped?.reference ?? prepared.image.reference,
            imageId: prepared.image.imageId,
            uid: prepared.image.packageInfo.uid,
            built: prepared.image.built,
            target: target.name,
            ...(prepared.shipped === undefined
              ? {}
              : {
                  shipped: {
                    method: prepared.shipped.method,
                    layersSent: prepared.shipped.layersSent,
                    layersTotal: prepared.shipped.layersTotal,
                    bytesSent: prepared.shipped.bytesSent,
                  },
                }),
          },
          null,
          2,
        ),
      );
    } else {
      context.note(
        `ferry: ${prepared.image.built ? 'built' : 'reused'} ${prepared.image.reference} (${prepared.image.imageId.slice(7, 19)}) for ${prepared.image.packageInfo.uid}`,
      );
      context.out(prepared.shipped?.reference ?? prepared.image.reference);
    }
    return EXIT.ok;
  },
};
