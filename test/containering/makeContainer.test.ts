import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  ContaineringTask,
  ImageBuildError,
  LABELS,
  makeContainer,
  TemplateRenderError,
  type ContaineringProgress,
  type ImageInfo,
} from '../../src/containering/index.js';
import { PackagingTask } from '../../src/packaging/index.js';
import { ProbeJob } from '../fixtures/containering/jobs/probeJob.js';
import { requireTestbed } from '../support/testbed.js';
import { describeWithTestbed } from '../support/describeWithTestbed.js';

const testbed = requireTestbed('local', 'baseImage');
const repo = fileURLToPath(new URL('../../', import.meta.url));
const sourceRoot = path.join(repo, 'test/fixtures/containering/jobs');

describeWithTestbed(testbed, 'makeContainer on the local engine', () => {
  const suffix = randomBytes(3).toString('hex');
  const jobName = `ctest-build-${suffix}`;
  const imageName = `ferry-test/build-${suffix}`;
  let docker: Dockerode;
  let cacheDir: string;
  const images = new Set<string>();

  beforeAll(async () => {
    docker = new Dockerode({ socketPath: testbed!.localDocker.socketPath });
    cacheDir = await mkdtemp(path.join(os.tmpdir(), 'ferry-build-test-cache-'));
  });
  afterAll(async () => {
    for (const id of images) {
      await docker
        .getImage(id)
        .remove({ force: true })
        .catch((error: { statusCode?: number }) => {
          if (error.statusCode !== 404 && error.statusCode !== 409) throw error;
        });
    }
    await rm(cacheDir, { recursive: true, force: true });
  });

  function task(
    message: string,
    fields: Partial<ConstructorParameters<typeof ContaineringTask>[0]> = {},
  ) {
    return new ContaineringTask({
      packagingTask: new PackagingTask({
        name: jobName,
        version: '1.0.0',
        payload: { job: new ProbeJob({ message }) },
        sourceRoot,
      }),
      imageName,
      baseImage: testbed!.baseImage,
      ...fields,
    });
  }

  async function build(
    t: ContaineringTask,
    onProgress?: (p: ContaineringProgress) => void,
  ): Promise<ImageInfo> {
    const image = await makeContainer(t, {
      docker,
      cacheDir,
      ...(onProgress ? { onProgress } : {}),
    });
    images.add(image.imageId);
    return image;
  }

  it('builds a labelled image once, and finds it again without building', async () => {
    const progress: ContaineringProgress[] = [];
    const first = await build(task('first'), (p) => progress.push(p));
    expect(first.reference).toBe(`${imageName}:${first.imageTag}`);
    const stages = new Set(progress.map((p) => p.stage));
    expect(stages.has('packaging')).toBe(true);
    expect(stages.has('build') || stages.has('cached')).toBe(true);

    const inspected = await docker.getImage(first.reference).inspect();
    expect(inspected.Config.Labels).toMatchObject({
      [LABELS.job]: jobName,
      [LABELS.version]: '1.0.0',
      [LABELS.uid]: first.packageInfo.uid,
      [LABELS.contentDigest]: first.contentDigest,
    });
    expect(inspected.Config.Entrypoint).toEqual(['node', '/app/entry.mjs']);

    const again = await build(task('first'));
    expect(again.built).toBe(false);
    expect(again.imageId).toBe(first.imageId);
    expect(again.contentDigest).toBe(first.contentDigest);
  });

  it('shares every layer but the payload between jobs that differ in payload', async () => {
    const a = await build(task('payload A'));
    const b = await build(task('payload B'));
    expect(b.imageId).not.toBe(a.imageId);
    const layersA = (await docker.getImage(a.imageId).inspect()).RootFS.Layers ?? [];
    const layersB = (await docker.getImage(b.imageId).inspect()).RootFS.Layers ?? [];
    // base, node_modules, runtime, entry file, source | payload
    expect(layersA).toHaveLength(layersB.length);
    expect(layersB.slice(0, -1)).toEqual(layersA.slice(0, -1));
    expect(layersB.at(-1)).not.toBe(layersA.at(-1));
    const base = (await docker.getImage(testbed!.baseImage).inspect()).RootFS.Layers ?? [];
    expect(layersA.slice(0, base.length)).toEqual(base);
    expect(layersA.length - base.length).toBe(5);
  });

  it('names the missing variable of a broken template before building', async () => {
    const broken = task('broken', {
      dockerfileTemplate: 'FROM {{dependenciesImage}}\nCOPY {{sourcePth}} /app\n',
    });
    const failure = build(broken);
    await expect(failure).rejects.toBeInstanceOf(TemplateRenderError);
    await expect(failure).rejects.toThrow(
      /ContaineringTask\.dockerfileTemplate: .*"sourcePth" \(line 2/,
    );
  });

  it('reports the failing Dockerfile step with its output', async () => {
    const missing = task('missing file', {
      dockerfileTemplate:
        'FROM {{baseImage}}\nCOPY {{runtimePath}} /app/\nCOPY no-such-file /app/\n',
    });
    const error = await build(missing).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ImageBuildError);
    const buildError = error as ImageBuildError;
    expect(buildError.step).toBe('Step 3/4 : COPY no-such-file /app/');
    expect(buildError.message).toContain('no-such-file');

    const run = task('run step', {
      dockerfileTemplate: 'FROM {{baseImage}}\nRUN echo hello\n',
    });
    const runError = await build(run).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(runError).toBeInstanceOf(ImageBuildError);
    expect((runError as ImageBuildError).step).toBe('Step 2/3 : RUN echo hello');
    expect((runError as ImageBuildError).message).toContain('the base image has no /bin/sh');
  });

  it('says which base image is missing', async () => {
    const error = await build(task('no base', { baseImage: 'ferry-test/no-such-base:1' })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ImageBuildError);
    expect((error as ImageBuildError).step).toBe('FROM ferry-test/no-such-base:1');
    expect((error as Error).message).toContain(
      'the base image ferry-test/no-such-base:1 is not on this engine',
    );
  });
});
