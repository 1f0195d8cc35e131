import path from 'node:path';
import { packagingTaskFor } from '../../config/targets.js';
import { makePackage } from '../../packaging/index.js';
import { flag, stringOption, type Command } from '../command.js';
import { EXIT } from '../exitCodes.js';
import { formatBytes } from '../output.js';
import { sha256File } from '../packages.js';

export const packageCommand: Command = {
  name: 'package',
  summary: 'package the job with its exact source into a .tar.gz',
  usage: 'ferry package [--out <folder>] [--json]',
  description: `
Bundles the source root (esbuild, under the package's UID namespace), serializes the job object
beside it, and writes <uid>.tar.gz with a manifest holding every file's SHA-256. The same source and
job give the same bytes. Prints the package's path.`,
  options: {
    out: {
      type: 'string',
      short: 'o',
      value: 'folder',
      description: 'where to write the package (default: <workDir>/packages)',
    },
    json: { type: 'boolean', description: 'print { path, uid, sha256, size, modules } as JSON' },
  },
  async run(context, args) {
    const config = await context.config();
    const job = await context.job();
    const out = stringOption(args, 'out');
    const outputDir =
      out === undefined ? path.join(config.workDir, 'packages') : path.resolve(context.io.cwd, out);
    const info = await makePackage(packagingTaskFor(config, job), {
      outputDir,
      onProgress: (stage, detail) =>
        context.progress.report({
          stage: 'packaging',
          message: `${stage}: ${detail}`,
          important: true,
        }),
    });
    const sha256 = await sha256File(info.path);
    const modules = Object.keys(info.manifest.modules).length;
    if (flag(args, 'json')) {
      context.out(
        JSON.stringify(
          { path: info.path, uid: info.uid, sha256, size: info.size, modules },
          null,
          2,
        ),
      );
    } else {
      context.note(
        `ferry: packaged ${info.uid}: ${modules} modules, ${formatBytes(info.size)}, sha256 ${sha256.slice(0, 16)}…`,
      );
      context.out(info.path);
    }
    return EXIT.ok;
  },
};
