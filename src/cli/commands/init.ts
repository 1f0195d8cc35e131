import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_FILE_NAME } from '../../config/schema.js';
import { flag, stringOption, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { EXIT } from '../exitCodes.js';

const TEMPLATE_DIR = fileURLToPath(new URL('../../../templates/init/', import.meta.url));
const PROJECT_NAME = /^[a-z0-9][a-z0-9._-]{0,99}$/;

/** Template file names that cannot be stored under their own name (npm drops .gitignore; a nested package.json would make the folder a package). */
const RENAMED: Readonly<Record<string, string>> = {
  _gitignore: '.gitignore',
  '_package.json': 'package.json',
};

export const initCommand: Command = {
  name: 'init',
  summary: 'create a project: an example job, ferry.config.json and a test',
  usage: 'ferry init [folder] [--name <project>] [--force]',
  description: `
Writes into the folder (default: the current one): ferry.config.json (targets local and an example
remote, gpu-box), src/job.ts (an example job class and the createJob() factory the config names),
src/greeting.ts, test/job.test.ts (node --test), sweep.json, tsconfig.json, .gitignore, README.md,
and package.json unless one exists. Existing files are never overwritten without --force.`,
  options: {
    name: {
      type: 'string',
      short: 'n',
      value: 'project',
      description: 'the project (package and image) name (default: from the folder name)',
    },
    force: { type: 'boolean', short: 'f', description: 'overwrite files that exist' },
  },
  maxPositionals: 1,
  examples: ['ferry init my-job && cd my-job && ferry run --target attached'],
  async run(context, args) {
    const dir = path.resolve(context.io.cwd, args.positionals[0] ?? '.');
    const name = stringOption(args, 'name') ?? projectNameFrom(path.basename(dir));
    if (!PROJECT_NAME.test(name)) {
      throw new UsageError(
        `init: ${JSON.stringify(name)} is not a valid project name; use lower-case letters, digits, '.', '-' and '_' (--name)`,
        'init',
      );
    }
    const force = flag(args, 'force');
    if (existsSync(path.join(dir, CONFIG_FILE_NAME)) && !force) {
      throw new UsageError(
        `init: ${path.join(dir, CONFIG_FILE_NAME)} exists already; use --force to overwrite the project files`,
        'init',
      );
    }
    const written: string[] = [];
    const skipped: string[] = [];
    for (const relative of await listFiles(TEMPLATE_DIR)) {
      const base = path.basename(relative);
      const target = path.join(dir, path.dirname(relative), RENAMED[base] ?? base);
      const shown = path.relative(dir, target);
      // An existing package.json is the user's: never replaced, even with --force.
      if (existsSync(target) && (!force || RENAMED[base] === 'package.json')) {
        skipped.push(shown);
        continue;
      }
      const text = (await readFile(path.join(TEMPLATE_DIR, relative), 'utf8')).replaceAll(
        '{{project}}',
        name,
      );
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, text);
      written.push(shown);
    }
    for (const file of written) context.out(`created ${file}`);
    for (const file of skipped) context.note(`ferry: kept the existing ${file}`);
    context.note(
      `ferry: project ${name} is ready in ${dir}. Try:\n  ferry run --target attached --param name=Ada\n  ferry run --param name=Ada    (local Docker)`,
    );
    return EXIT.ok;
  },
};

/** A valid project name from a folder name: lower case, other characters as '-'. */
export function projectNameFrom(folder: string): string {
  const name = folder
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 100);
  return name === '' ? 'ferry-job' : name;
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of (await readdir(path.join(dir, prefix), { withFileTypes: true })).sort(
    (a, b) => (a.name < b.name ? -1 : 1),
  )) {
    const relative = path.join(prefix, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(dir, relative)));
    else out.push(relative);
  }
  return out;
}
