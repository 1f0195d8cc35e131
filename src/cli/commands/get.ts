import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { MANIFEST_FILE, parseManifest } from '../../packaging/manifest.js';
import { packagePath, sha256File } from '../../packaging/index.js';
import type { RunRecord } from '../../records/record.js';
import { PackageNotAvailableError } from '../../routines/errors.js';
import { writeTarGz } from '../../tar/index.js';
import { stringOption, type Command, RUN_LOOKUP_TARGET_OPTION } from '../command.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exitCodes.js';
import { formatBytes } from '../output.js';
import { executorOf, resolveRun } from '../runs.js';

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

/** Reads the run's package from its target, checks it against its manifest and re-archives it. */
async function fetchFromTarget(context: CliContext, record: RunRecord, out: string): Promise<void> {
  const executor = await executorOf(context, record);
  context.progress.report({
    stage: 'get',
    message: `reading the package from the run's container on ${record.target}`,
  });
  const files = await executor.packageFiles(record);
  const manifestBytes = files.get(MANIFEST_FILE);
  if (manifestBytes === undefined) {
    throw new PackageNotAvailableError(
      `run ${record.id}: the package folder on ${record.target} holds no ${MANIFEST_FILE}`,
    );
  }
  // Read from a target, so untrusted: checked whole before any of it is used.
  const manifest = parseManifest(manifestBytes.toString('utf8'), `the image of run ${record.id}`);
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
