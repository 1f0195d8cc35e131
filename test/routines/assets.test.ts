/**
 * Assets and the routine's snapshot against the real test bed: a job that reads data/train.csv
 * through `context.asset()` runs attached, in local Docker and on the remote host (sshd on
 * loopback, its own engine), following the README's attached → local → remote sequence in one
 * script; each run starts from the job as configured although every run "trains" its job. And the
 * image's layers: data in a layer of its own, so a data change leaves the source layer as it was
 * and a source change leaves the data layer as it was.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/loadConfig.js';
import { createExecutor } from '../../src/config/targets.js';
import { ContaineringTask, LABELS, makeContainer } from '../../src/containering/index.js';
import { DockerOptions, SSHDockerJobRoutine } from '../../src/index.js';
import { PackagingTask } from '../../src/packaging/index.js';
import { MountSourceMissingError } from '../../src/routines/errors.js';
import {
  JOB_SOURCE,
  TRAIN_CSV,
  reports,
  writeAssetsProject,
  type AssetsProject,
} from '../fixtures/assets/project.js';
import { describeWithTestbed } from '../support/describeWithTestbed.js';
import { remoteSshOptions, requireTestbed } from '../support/testbed.js';

const testbed = requireTestbed('remote', 'baseImage');

describeWithTestbed(testbed, 'assets and the configured job, attached, local and remote', (tb) => {
  const suffix = randomBytes(3).toString('hex');
  const name = `assets-${suffix}`;
  let work: string;
  let project: AssetsProject;
  let local: Dockerode;
  let remote: Dockerode;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'ferry-assets-docker-'));
    project = await writeAssetsProject(path.join(work, 'project'));
    local = new Dockerode({ socketPath: tb.localDocker.socketPath });
    remote = new Dockerode({ socketPath: tb.remote.dockerSocketPath });
  });
  afterAll(async () => {
    for (const engine of [local, remote]) {
      const images = await engine.listImages({
        filters: JSON.stringify({ label: [`${LABELS.job}=${name}`] }),
      });
      for (const image of images) {
        await engine
          .getImage(image.Id)
          .remove({ force: true })
          .catch((error: { statusCode?: number }) => {
            if (error.statusCode !== 404 && error.statusCode !== 409) throw error;
          });
      }
    }
    await rm(work, { recursive: true, force: true });
  });

  it('reads data/train.csv in every place, each run starting from the job as configured', async () => {
    const routine = new SSHDockerJobRoutine({
      job: new project.CsvJob(3),
      name,
      version: '1.0.0',
      sourceRoot: project.sourceRoot,
      projectRoot: project.root,
      assets: ['data/**/*.csv'],
      workDir: path.join(work, 'ferry'),
      containering: { baseImage: tb.baseImage, imageName: `ferry-test/${name}` },
      options: new DockerOptions({ removeContainer: true }),
      remote: { ssh: remoteSshOptions(tb), dockerSocketPath: tb.remote.dockerSocketPath },
    });
    try {
      const seen: Array<Record<string, unknown>> = [];
      for (const executor of [routine.attached, routine.local, routine.remote, routine.attached]) {
        const run = await executor.execute();
        const { exitCode } = await executor.wait(run.id);
        const { stdout, stderr } = await executor.getLogs(run.id);
        expect(exitCode, `${executor.kind}: ${stderr}`).toBe(0);
        seen.push(...reports(stdout));
        expect(await run.result()).toEqual({ rows: 3, trained: false, epochs: 3, history: 0 });
      }
      expect(seen).toEqual(
        Array.from({ length: 4 }, () => ({ rows: 3, trained: false, epochs: 3, history: 0 })),
      );
    } finally {
      await routine.remote.close();
    }
  });

  it('keeps data in its own layer: a data change keeps the source layer, a source change the data layer', async () => {
    const cacheDir = path.join(work, 'cache');
    const build = async (p: AssetsProject): Promise<string[]> => {
      const image = await makeContainer(
        new ContaineringTask({
          packagingTask: new PackagingTask({
            name,
            version: '1.0.0',
            payload: { job: new p.CsvJob(3) },
            sourceRoot: p.sourceRoot,
            projectRoot: p.root,
            assets: ['data/**/*.csv'],
          }),
          imageName: `ferry-test/${name}`,
          baseImage: tb.baseImage,
        }),
        { docker: local, cacheDir },
      );
      return (await local.getImage(image.imageId).inspect()).RootFS.Layers ?? [];
    };
    const base = (await local.getImage(tb.baseImage).inspect()).RootFS.Layers ?? [];
    const first = await build(project);
    // base | assets, runtime, entry file, source, payload (no npm dependencies: no node_modules layer)
    expect(first.slice(0, base.length)).toEqual(base);
    expect(first.length - base.length).toBe(5);
    const at = (layers: string[]) => ({
      assets: layers.at(-5),
      runtime: layers.at(-4),
      entry: layers.at(-3),
      source: layers.at(-2),
      payload: layers.at(-1),
    });

    const csv = path.join(project.root, 'data', 'train.csv');
    await writeFile(csv, `${TRAIN_CSV}7,8\n`);
    let dataChanged: string[];
    try {
      dataChanged = await build(project);
    } finally {
      await writeFile(csv, TRAIN_CSV);
    }
    expect(at(dataChanged).assets).not.toBe(at(first).assets);
    expect(at(dataChanged).source).toBe(at(first).source);

    const edited = await writeAssetsProject(path.join(work, 'edited'), {
      source: JOB_SOURCE.replace('this.epochs += 10;', 'this.epochs += 20;'),
    });
    const sourceChanged = await build(edited);
    expect(sourceChanged.slice(0, -4)).toEqual(first.slice(0, -4));
    expect(at(sourceChanged).assets).toBe(at(first).assets);
    expect(at(sourceChanged).source).not.toBe(at(first).source);
    expect(await readFile(csv, 'utf8')).toBe(TRAIN_CSV);
  });

  it('mounts a relative host folder from the config’s folder; a folder missing on the remote host is named', async () => {
    const configFile = path.join(project.root, 'ferry.config.json');
    await writeFile(
      configFile,
      JSON.stringify({
        project: name,
        version: '1.0.0',
        job: 'src/csvJob.ts#MountJob',
        sourceRoot: 'src',
        workDir: '../ferry-config',
        targets: {
          local: { mounts: ['data:/data:ro'], baseImage: tb.baseImage, removeContainer: true },
        },
      }),
    );
    const config = await loadConfig({ file: configFile, cwd: tmpdir() });
    const { MountJob } = (await import(
      pathToFileURL(path.join(project.sourceRoot, 'csvJob.ts')).href
    )) as { MountJob: new () => { run(): void } };
    const executor = createExecutor(config, 'local', { job: new MountJob() });
    try {
      const run = await executor.execute({ wait: true });
      const { stdout, stderr } = await executor.getLogs(run.id);
      expect((await executor.wait(run.id)).exitCode, stderr).toBe(0);
      expect(reports(stdout)).toEqual([{ mountedRows: 3 }]);
    } finally {
      await executor.close();
    }

    const routine = new SSHDockerJobRoutine({
      job: new project.CsvJob(3),
      name,
      version: '1.0.0',
      sourceRoot: project.sourceRoot,
      projectRoot: project.root,
      assets: ['data/**/*.csv'],
      workDir: path.join(work, 'ferry'),
      containering: { baseImage: tb.baseImage, imageName: `ferry-test/${name}` },
      options: new DockerOptions({
        removeContainer: true,
        mounts: [
          { hostPath: '/tmp', containerPath: '/scratch' },
          { hostPath: `/nonexistent-${name}`, containerPath: '/data', readOnly: true },
        ],
      }),
      remote: { ssh: remoteSshOptions(tb), dockerSocketPath: tb.remote.dockerSocketPath },
    });
    try {
      const failure = routine.remote.execute();
      await expect(failure).rejects.toBeInstanceOf(MountSourceMissingError);
      await expect(failure).rejects.toThrow(
        `mounts[1]: the host folder /nonexistent-${name} does not exist on the Docker host`,
      );
    } finally {
      await routine.remote.close();
    }
  });
});
