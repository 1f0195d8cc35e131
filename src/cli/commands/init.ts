import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_FILE_NAME } from '../../config/schema.js';
import { flag, stringOption, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { EXIT } from '../exitCodes.js';
import { ferryInstallSpec } from '../installSpec.js';

/** Ferry's package folder, from `src/cli/commands/` or `dist/cli/commands/`. */
const FERRY_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TEMPLATE_DIR = `${FERRY_ROOT}templates/init/`;
/** What the project's `npm test` runs, in the template's package.json. */
const TEST_SCRIPT = 'node --import tsx --test test/*.test.ts';
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
and package.json unless one exists: an ES module project ("type": "module") with ferry and tsx as
dev dependencies (ferry as this Ferry was installed: a registry version, the tarball or git URL it
came from, or file: its folder). In an existing package.json, nothing is changed: a CommonJS one is
refused with what to change, missing dependencies are named. Existing files are never overwritten
without --force.`,
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
  examples: ['ferry init my-job && cd my-job && npm install && npx ferry run --target attached'],
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
    const existingPackage = await readExistingPackage(path.join(dir, 'package.json'));
    const ferry = JSON.parse(await readFile(`${FERRY_ROOT}package.json`, 'utf8')) as FerryManifest;
    const specs: Readonly<Record<string, string>> = {
      ferry: ferryInstallSpec({ root: FERRY_ROOT, version: ferry.version }),
      tsx: ferry.dependencies.tsx,
    };
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
      const text = (await readFile(path.join(TEMPLATE_DIR, relative), 'utf8'))
        .replaceAll('{{project}}', name)
        // Only in package.json, inside JSON strings: escaped as JSON.
        .replaceAll('{{ferrySpec}}', JSON.stringify(specs.ferry).slice(1, -1))
        .replaceAll('{{tsxSpec}}', JSON.stringify(specs.tsx).slice(1, -1));
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, text);
      written.push(shown);
    }
    for (const file of written) context.out(`created ${file}`);
    for (const file of skipped) context.note(`ferry: kept the existing ${file}`);
    const missing = existingPackage === undefined ? [] : missingSetup(existingPackage, specs);
    for (const step of missing) context.note(`ferry: ${step}`);
    const cd = path.relative(context.io.cwd, dir);
    context.note(
      `ferry: project ${name} is ready in ${dir}. Try:\n${cd === '' ? '' : `  cd ${cd}\n`}  npm install\n  npm test\n  npx ferry run --target attached --param name=Ada\n  npx ferry run --param name=Ada    (local Docker)`,
    );
    return EXIT.ok;
  },
};

interface FerryManifest {
  readonly version: string;
  readonly dependencies: { readonly tsx: string };
}

/** The fields of a project's own package.json that init looks at. */
interface ProjectManifest {
  readonly type?: unknown;
  readonly scripts?: unknown;
  readonly dependencies?: unknown;
  readonly devDependencies?: unknown;
}

/**
 * The project's package.json when there is one. A CommonJS one is refused before anything is
 * written: the job module and its tests are ES modules, and tsx would load them as CommonJS.
 */
async function readExistingPackage(file: string): Promise<ProjectManifest | undefined> {
  if (!existsSync(file)) return undefined;
  let manifest: unknown;
  try {
    manifest = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new UsageError(
      `init: ${file} is not valid JSON (${error.message}); fix it first`,
      'init',
    );
  }
  if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest)) {
    throw new UsageError(`init: ${file} does not hold a JSON object; fix it first`, 'init');
  }
  const project = manifest as ProjectManifest;
  if (project.type !== 'module') {
    const type =
      project.type === undefined
        ? 'no "type" (CommonJS)'
        : `"type": ${JSON.stringify(project.type)}`;
    throw new UsageError(
      `init: ${file} has ${type}, but a Ferry project is ES modules; set "type": "module" in it (\`npm pkg set type=module\`; rename CommonJS .js files of the project to .cjs), then run ferry init again`,
      'init',
    );
  }
  return project;
}

/** What an existing package.json lacks for the project to work, as the commands that add it. */
function missingSetup(project: ProjectManifest, specs: Readonly<Record<string, string>>): string[] {
  const declared = (field: unknown, name: string): boolean =>
    typeof field === 'object' && field !== null && Object.hasOwn(field, name);
  const missing = Object.keys(specs).filter(
    (name) => !declared(project.dependencies, name) && !declared(project.devDependencies, name),
  );
  const steps: string[] = [];
  if (missing.length > 0) {
    steps.push(
      `package.json does not declare ${missing.join(' or ')}; add them with: npm install --save-dev ${missing.map((name) => shellQuote(`${name}@${specs[name] ?? ''}`)).join(' ')}`,
    );
  }
  const test = declared(project.scripts, 'test')
    ? (project.scripts as Record<string, unknown>)['test']
    : undefined;
  // `npm init -y` writes a test script that only fails.
  if (typeof test !== 'string' || test.includes('no test specified')) {
    steps.push(
      `package.json has no test script for the job's tests; set one with: npm pkg set scripts.test=${shellQuote(TEST_SCRIPT)}`,
    );
  }
  return steps;
}

function shellQuote(text: string): string {
  return /^[\w@%+=:,./^~-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

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
