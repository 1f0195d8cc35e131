import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import * as tar from 'tar';
import { PACKAGE_DIR } from '../../containering/buildContext.js';
import { engineMessage } from '../../containering/dockerEngine.js';
import { InputError } from '../../errors.js';
import { MANIFEST_FILE, type PackageManifest } from '../../packaging/manifest.js';
import type { RunRecord } from '../../records/record.js';
import { writeTarGz } from '../../tar/index.js';
import { stringOption, type Command, RUN_LOOKUP_TARGET_OPTION } from '../command.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exitCodes.js';
import { formatBytes } from '../output.js';
import { packagePath, sha256File } from '../packages.js';
import { dockerTargetOf, findContainer, resolveRun } from '../runs.js';

/** The package a run used cannot be found, or what was found does not match its manifest. */
export class PackageNotAvailableError extends InputError {}

export const getCommand: Command = {
  name: 'get',
  summary: 'fetch the exact package (.tar.gz) a run used',
  usage: 'ferry get <run id> [--out <file or folder>]',
  description: `
Writes the package the run used: the bundled source under its UID and the serialized job, with its
manifest of SHA-256 hashes. It comes from <workDir>/packages when this machine made it, else from
the run's container (or image) on its target, checked against its manifest and re-archived
deterministically. The result is checked against the SHA-256 in the run's record when there is one.
Install it with installPackageAndGetLoader(file) to load the job back.`,
  options: {
    target: RUN_LOOKUP_TARGET_OPTION,
    out: {
      type: 'string',
      short: 'o',
      value: 'path',
      description: 'file to write, or an existing folder (default: ./<uid>.tar.gz)',
    },
  },
  minPositionals: 1,
  maxPositionals: 1,
  async run(context, args) {
    const record = await resolveRun(context, args.positionals[0]!, stringOption(args, 'target'));
    const config = await context.config();
    const outOption = stringOption(args, 'out');
    let out = path.resolve(context.io.cwd, outOption ?? `${record.uid}.tar.gz`);
    if (outOption !== undefined && existsSync(out) && !out.endsWith('.tar.gz'))
      out = path.join(out, `${record.uid}.tar.gz`);
    await mkdir(path.dirname(out), { recursive: true });
    const kept = packagePath(config.workDir, record.uid);
    let source: string;
    if (existsSync(kept)) {
      await copyFile(kept, out);
      source = kept;
    } else {
      await fetchFromTarget(context, record, out);
      source = `the run's image on target ${record.target}`;
    }
    const sha256 = await sha256File(out);
    if (record.packageSha256 !== undefined && record.packageSha256 !== sha256) {
      throw new PackageNotAvailableError(
        `run ${record.id}: the package from ${source} has SHA-256 ${sha256}, but the run recorded ${record.packageSha256}`,
      );
    }
    context.note(
      `ferry: package of run ${record.id} (${record.uid}) from ${source}, sha256 ${sha256.slice(0, 16)}…${record.packageSha256 === undefined ? '' : ' (matches the record)'}`,
    );
    context.out(out);
    return EXIT.ok;
  },
};

async function fetchFromTarget(context: CliContext, record: RunRecord, out: string): Promise<void> {
  const target = dockerTargetOf(await context.config(), record);
  if (target === undefined) {
    throw new PackageNotAvailableError(
      `run ${record.id}: its package ${record.uid} is not in this project's packages folder, and the run ${record.targetKind === 'attached' ? 'ran attached, so no image holds it' : `ran on target ${record.target}, which the config no longer defines`}`,
    );
  }
  const engine = await context.engine(target);
  context.progress.report({
    stage: 'get',
    message: `reading ${PACKAGE_DIR} from the run's container on ${target.name}`,
  });
  const container = await findContainer(engine.docker, record.id);
  let files: Map<string, Buffer>;
  if (container !== undefined) {
    files = await readFolder(engine.docker.getContainer(container.Id), PACKAGE_DIR);
  } else {
    const image = record.imageId ?? record.image;
    if (image === undefined) {
      throw new PackageNotAvailableError(
        `run ${record.id}: its container is gone and its record names no image`,
      );
    }
    // A container that is created, never started, only to read the image's files.
    let temporary: Dockerode.Container;
    try {
      temporary = await engine.docker.createContainer({
        Image: image,
        Labels: { 'ferry.role': 'get' },
      });
    } catch (error) {
      throw new PackageNotAvailableError(
        `run ${record.id}: its container is gone and its image ${image} is not on ${target.name} (${engineMessage(error)})`,
      );
    }
    try {
      files = await readFolder(temporary, PACKAGE_DIR);
    } finally {
      await temporary.remove({ force: true }).catch(() => undefined);
    }
  }
  const manifestBytes = files.get(MANIFEST_FILE);
  if (manifestBytes === undefined) {
    throw new PackageNotAvailableError(
      `run ${record.id}: ${PACKAGE_DIR} on ${target.name} holds no ${MANIFEST_FILE}`,
    );
  }
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as PackageManifest;
  if (manifest.uid !== record.uid) {
    throw new PackageNotAvailableError(
      `run ${record.id}: the image holds package ${manifest.uid}, not ${record.uid}`,
    );
  }
  const entries: { path: string; contents: Buffer }[] = [];
  for (const [file, expected] of Object.entries(manifest.files)) {
    const bytes = files.get(file);
    const actual =
      bytes === undefined ? undefined : createHash('sha256').update(bytes).digest('hex');
    if (actual !== expected) {
      throw new PackageNotAvailableError(
        `run ${record.id}: ${file} in the image ${bytes === undefined ? 'is missing' : 'does not match its SHA-256 in the manifest'}`,
      );
    }
    entries.push({ path: file, contents: bytes! });
  }
  await writeTarGz(
    out,
    [{ path: MANIFEST_FILE, contents: manifestBytes }, ...entries].map((e) => ({
      type: 'file' as const,
      path: e.path,
      source: { bytes: e.contents },
    })),
    { leading: MANIFEST_FILE },
  );
  context.progress.report({
    stage: 'get',
    message: `${entries.length + 1} files, ${formatBytes(entries.reduce((n, e) => n + e.contents.length, 0))}`,
  });
}

/** The files under `folder` in a container, by path relative to it. */
async function readFolder(
  container: Dockerode.Container,
  folder: string,
): Promise<Map<string, Buffer>> {
  const stream = (await container.getArchive({ path: folder })) as unknown as Readable;
  const files = new Map<string, Buffer>();
  const prefix = `${path.posix.basename(folder)}/`;
  await new Promise<void>((resolve, reject) => {
    const parser = new tar.Parser({
      onReadEntry: (entry) => {
        const chunks: Buffer[] = [];
        entry.on('data', (chunk: Buffer) => chunks.push(chunk));
        entry.on('end', () => {
          if (entry.type === 'File' && entry.path.startsWith(prefix)) {
            files.set(entry.path.slice(prefix.length), Buffer.concat(chunks));
          }
        });
      },
    });
    parser.on('end', () => resolve());
    parser.on('error', reject);
    stream.on('error', reject);
    stream.pipe(parser);
  });
  return files;
}
