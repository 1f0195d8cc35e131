/**
 * npm dependencies for the image's platform, not the host's, against the test bed's engines:
 * a host install for linux/arm64 on this x86-64 machine (read back from the image, not run), an
 * in-image `npm ci` on the test bed's npm base image (run for real), the remote engine's platform
 * check, and the errors of the modes that cannot work.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import Dockerode from 'dockerode';
import tarStream from 'tar-stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  ContaineringTask,
  DependencyModeError,
  ImagePlatformError,
  LABELS,
  makeContainer,
  type ContaineringProgress,
  type ContaineringTaskFields,
  type ImageInfo,
} from '../../src/containering/index.js';
import { PackagingTask } from '../../src/packaging/index.js';
import { RemoteDockerExecutor } from '../../src/routines/remoteDockerExecutor.js';
import { EsbuildJob } from '../fixtures/platform/esbuild/esbuildJob.js';
import { NativeJob } from '../fixtures/platform/native/src/nativeJob.js';
import { ProbeJob } from '../fixtures/containering/jobs/probeJob.js';
import { describeWithTestbed } from '../support/describeWithTestbed.js';
import { isCi, remoteSshOptions, requireTestbed } from '../support/testbed.js';

const testbed = requireTestbed('local', 'remote', 'baseImage');
const repo = fileURLToPath(new URL('../../', import.meta.url));
const esbuildRoot = path.join(repo, 'test/fixtures/platform/esbuild');
const nativeRoot = path.join(repo, 'test/fixtures/platform/native/src');
const probeRoot = path.join(repo, 'test/fixtures/containering/jobs');

/** What the tests make is labelled with this, so afterAll finds it. */
const TEST_LABEL = 'org.ferry-test.platform';

describeWithTestbed(testbed, 'dependencies for the image platform', (tb) => {
  const run = randomBytes(3).toString('hex');
  const docker = new Dockerode({ socketPath: tb.localDocker.socketPath });
  const arm64Base = `ferry-test/arm64-files:${run}`;
  /** Job images, then the dependencies images they were built on: removed in that order. */
  const images = new Set<string>();
  const dependencyImages = new Set<string>();
  let cacheDir: string;

  beforeAll(async () => {
    cacheDir = await mkdtemp(path.join(os.tmpdir(), 'ferry-platform-test-'));
    await loadImage(docker, arm64Base, 'arm64');
  });

  afterAll(async () => {
    const filters = JSON.stringify({ label: [`${TEST_LABEL}=${run}`] });
    for (const c of await docker.listContainers({ all: true, filters })) {
      await docker.getContainer(c.Id).remove({ force: true });
    }
    for (const id of [...images, ...dependencyImages]) await removeImage(docker, id);
    await removeImage(docker, arm64Base);
    await rm(cacheDir, { recursive: true, force: true });
  });

  function task(
    name: string,
    job: object,
    sourceRoot: string,
    fields: Partial<ContaineringTaskFields>,
  ): ContaineringTask {
    return new ContaineringTask({
      packagingTask: new PackagingTask({
        name: `ptest-${name}-${run}`,
        version: '1.0.0',
        payload: { job },
        sourceRoot,
      }),
      imageName: `ferry-test/platform-${name}-${run}`,
      labels: { [TEST_LABEL]: run },
      ...fields,
    });
  }

  async function build(t: ContaineringTask, progress: ContaineringProgress[] = []) {
    const image = await makeContainer(t, {
      docker,
      cacheDir,
      onProgress: (p) => progress.push(p),
    });
    images.add(image.imageId);
    for (const p of progress) {
      const deps = /^Building (ferry\/dependencies:[0-9a-f]+) /.exec(p.message)?.[1];
      if (deps !== undefined) dependencyImages.add(deps);
    }
    return image;
  }

  it('installs on this x86-64 host the arm64 packages of a linux/arm64 image, and not the x64 ones', async () => {
    const progress: ContaineringProgress[] = [];
    const image = await build(
      task('esbuild-arm64', new EsbuildJob('let x: number = 1'), esbuildRoot, {
        baseImage: arm64Base,
        platform: 'linux/arm64',
        dependencies: 'host',
      }),
      progress,
    );
    expect(image.platform).toBe('linux/arm64');
    expect(image.dependenciesInstall).toBe('host');
    const inspected = await docker.getImage(image.imageId).inspect();
    expect(`${inspected.Os}/${inspected.Architecture}`).toBe('linux/arm64');
    expect(inspected.Config.Labels?.[LABELS.platform]).toBe('linux/arm64');
    // esbuild's postinstall is not run by a host install, and Ferry says so.
    expect(progress.map((p) => p.message).join('\n')).toMatch(
      /install scripts of esbuild were not run/,
    );

    const files = await filesInImage(docker, image.imageId, '/app/node_modules/@esbuild', run);
    const packages = new Set(files.map((f) => f.name.split('/')[1]).filter(Boolean));
    expect([...packages]).toEqual(['linux-arm64']);
    const binary = files.find((f) => f.name === '@esbuild/linux-arm64/bin/esbuild');
    // ELF, machine 0xB7: AArch64.
    expect(binary?.head.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(binary?.head.readUInt16LE(18)).toBe(0xb7);

    // The host cache holds it under a key of the image's platform: the x64 install is another.
    const x64 = await build(
      task('esbuild-x64', new EsbuildJob('let x: number = 1'), esbuildRoot, {
        baseImage: tb.baseImage,
        platform: 'linux/amd64',
        dependencies: 'host',
      }),
    );
    const x64Files = await filesInImage(docker, x64.imageId, '/app/node_modules/@esbuild', run);
    expect(new Set(x64Files.map((f) => f.name.split('/')[1]).filter(Boolean))).toEqual(
      new Set(['linux-x64']),
    );
    expect(await readdir(path.join(cacheDir, 'deps'))).toHaveLength(2);
  });

  it('refuses a base image of another platform than the image, naming both', async () => {
    const failure = build(
      task('base-mismatch', new ProbeJob({ message: 'x' }), probeRoot, {
        baseImage: tb.baseImage,
        platform: 'linux/arm64',
      }),
    );
    await expect(failure).rejects.toBeInstanceOf(ImagePlatformError);
    await expect(failure).rejects.toThrow(
      new RegExp(`base image ${tb.baseImage} .* is linux/amd64, but the image is for linux/arm64`),
    );
  });

  it('refuses to install a native addon on this host for another platform, pointing to "image"', async () => {
    const failure = build(
      task('native-arm64', new NativeJob(), nativeRoot, {
        baseImage: arm64Base,
        platform: 'linux/arm64',
        dependencies: 'host',
      }),
    );
    await expect(failure).rejects.toBeInstanceOf(DependencyModeError);
    await expect(failure).rejects.toThrow(
      /bufferutil has native addons \(bufferutil: node-gyp-build\), which cannot be built on this linux\/amd64 host for a linux\/arm64 image: set the dependency install mode to "image"/,
    );
  });

  it('says the base image has no npm when the dependencies are to be installed in the image', async () => {
    // `auto` goes in-image for a package with install scripts: here the base image has no npm.
    for (const dependencies of ['image', 'auto'] as const) {
      const progress: ContaineringProgress[] = [];
      const failure = build(
        task(`no-npm-${dependencies}`, new NativeJob(), nativeRoot, {
          baseImage: tb.baseImage,
          dependencies,
        }),
        progress,
      );
      await expect(failure).rejects.toBeInstanceOf(DependencyModeError);
      await expect(failure).rejects.toThrow(
        new RegExp(
          `the base image ${tb.baseImage} has no npm that can run .*dependencies "image" installs`,
        ),
      );
      if (dependencies === 'auto') {
        // Known from the lockfile, without installing on the host first.
        expect(progress.map((p) => p.message)).toContain(
          'bufferutil has install scripts (package-lock.json), which must run on linux/amd64 with the image\'s node: installing in the image (dependencies "auto")',
        );
        expect(progress.map((p) => p.message).join('\n')).not.toMatch(/on the host for/);
      }
    }
  });

  const npmBase = tb.npmBaseImage;
  if (npmBase === undefined && isCi()) {
    throw new Error(`${tb.file} names no npmBaseImage: run scripts/testbed.sh up`);
  }
  it.skipIf(npmBase === undefined)(
    'runs npm ci in the image build on a base image with npm, and the job imports the package',
    async () => {
      const progress: ContaineringProgress[] = [];
      const hostInstalls = async () =>
        readdir(path.join(cacheDir, 'deps')).catch((error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT') return [];
          throw error;
        });
      const before = await hostInstalls();
      const image = await build(
        task('esbuild-image', new EsbuildJob('let y: string = "in image"'), esbuildRoot, {
          baseImage: npmBase!,
          dependencies: 'image',
        }),
        progress,
      );
      expect(image.dependenciesInstall).toBe('image');
      const messages = progress.map((p) => p.message).join('\n');
      // This engine (Docker 20.10, API 1.41) has BuildKit: npm's cache is a cache mount.
      expect(messages).toMatch(/npm ci in the image for linux\/amd64, npm cache in a BuildKit/);
      // Nothing was installed on the host.
      expect(await hostInstalls()).toEqual(before);
      const output = await runImage(docker, image, run);
      expect(output).toContain('esbuild 0.28.2 on linux-x64: let y = "in image";');
    },
    240_000,
  );

  it('checks a remote target platform against the remote engine, before building', async () => {
    const executor = (platform?: 'linux/amd64' | 'linux/arm64') =>
      new RemoteDockerExecutor({
        packagingTask: () => {
          throw new Error('nothing is packaged before the platform check');
        },
        ssh: remoteSshOptions(tb),
        dockerSocketPath: tb.remote.dockerSocketPath,
        targetName: 'gpu',
        containering: platform === undefined ? {} : { platform },
        localDocker: docker,
      });
    const mismatched = executor('linux/arm64');
    try {
      const failure = mismatched.build();
      await expect(failure).rejects.toBeInstanceOf(ImagePlatformError);
      await expect(failure).rejects.toThrow(
        /targets\.gpu\.platform \(ContaineringTask\.platform\) is linux\/arm64, but the Docker engine at root@127\.0\.0\.1:\d+ runs linux\/amd64 images: set targets\.gpu\.platform to "linux\/amd64" or remove it/,
      );
    } finally {
      await mismatched.close();
    }
    const byDefault = executor();
    try {
      expect(await byDefault.imagePlatform()).toBe('linux/amd64');
    } finally {
      await byDefault.close();
    }
  });
});

async function removeImage(docker: Dockerode, id: string): Promise<void> {
  await docker
    .getImage(id)
    .remove({ force: true })
    .catch((error: { statusCode?: number }) => {
      if (error.statusCode !== 404 && error.statusCode !== 409) throw error;
    });
}

/**
 * Loads a tiny image (an /app folder, /tmp and /etc/passwd; no node) whose config says
 * `linux/<architecture>`: a base image of another platform, for builds that only copy files.
 */
async function loadImage(docker: Dockerode, reference: string, architecture: string) {
  const layer = await tarOf([
    { name: 'app/', type: 'directory' },
    { name: 'tmp/', type: 'directory', mode: 0o1777 },
    { name: 'etc/', type: 'directory' },
    { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/usr/sbin/nologin\n' },
  ]);
  const diffId = createHash('sha256').update(layer).digest('hex');
  const config = JSON.stringify({
    architecture,
    os: 'linux',
    created: '1970-01-01T00:00:00Z',
    config: { Env: ['PATH=/usr/local/bin:/usr/bin:/bin'], WorkingDir: '/app' },
    rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] },
  });
  const configId = createHash('sha256').update(config).digest('hex');
  const archive = await tarOf([
    { name: `${diffId}/layer.tar`, content: layer },
    { name: `${configId}.json`, content: config },
    {
      name: 'manifest.json',
      content: JSON.stringify([
        { Config: `${configId}.json`, RepoTags: [reference], Layers: [`${diffId}/layer.tar`] },
      ]),
    },
  ]);
  const response = await docker.loadImage(Readable.from([archive]), { quiet: true });
  for await (const chunk of response as AsyncIterable<Buffer>) void chunk;
}

async function tarOf(
  entries: readonly {
    name: string;
    type?: 'directory';
    mode?: number;
    content?: string | Buffer;
  }[],
): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const entry of entries) {
    if (entry.type === 'directory') {
      pack.entry({
        name: entry.name,
        type: 'directory',
        mode: entry.mode ?? 0o755,
        mtime: new Date(0),
      });
    } else {
      pack.entry({ name: entry.name, mode: 0o644, mtime: new Date(0) }, entry.content ?? '');
    }
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** The files under `dir` in an image (its first 32 bytes each), read from a created, never started, container. */
async function filesInImage(
  docker: Dockerode,
  image: string,
  dir: string,
  run: string,
): Promise<{ name: string; head: Buffer }[]> {
  const container = await docker.createContainer({
    Image: image,
    Entrypoint: ['/nonexistent'],
    Labels: { [TEST_LABEL]: run },
  });
  try {
    const archive = (await container.getArchive({ path: dir })) as NodeJS.ReadableStream;
    const extract = tarStream.extract();
    const files: { name: string; head: Buffer }[] = [];
    const done = new Promise<void>((resolve, reject) => {
      extract.on('entry', (header, stream, next) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: unknown) => {
          if (Buffer.concat(chunks).length < 32) chunks.push(chunk as Buffer);
        });
        stream.on('end', () => {
          // Names are relative to dir's parent: `@esbuild/linux-arm64/...`.
          if (header.type === 'file') {
            files.push({ name: header.name, head: Buffer.concat(chunks).subarray(0, 32) });
          } else {
            files.push({ name: header.name.replace(/\/$/, ''), head: Buffer.alloc(0) });
          }
          next();
        });
        stream.resume();
      });
      extract.on('finish', resolve);
      extract.on('error', reject);
    });
    (archive as NodeJS.ReadableStream).pipe(extract);
    await done;
    return files;
  } finally {
    await container.remove({ force: true });
  }
}

/** Runs the job image to its end; what it printed. */
async function runImage(docker: Dockerode, image: ImageInfo, run: string): Promise<string> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (chunk: Buffer) => chunks.push(chunk));
  const [result] = (await docker.run(image.imageId, [], out, {
    Labels: { [TEST_LABEL]: run },
    Tty: true,
    HostConfig: { AutoRemove: false },
  })) as [{ StatusCode: number }, Dockerode.Container];
  const text = Buffer.concat(chunks).toString('utf8');
  expect(result.StatusCode, text).toBe(0);
  return text;
}
